// The one stream chunk size of the store. Small enough that the few chunks
// in flight (read-ahead, ingest writes, the tar reader's queue) keep an
// import's memory flat; big enough that per-chunk overhead stays negligible.
export const CHUNK = 256 << 10;
