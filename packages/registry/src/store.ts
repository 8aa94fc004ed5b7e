// The store contract this package is written against. Until @strata/store
// exports its index, this re-exports the agreed types file directly.
export * from '../../store/src/types.ts';
