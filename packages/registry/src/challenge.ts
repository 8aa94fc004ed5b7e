// Parses WWW-Authenticate headers (RFC 7235): a scheme followed by
// comma-separated auth-params whose values may be quoted strings with
// backslash escapes. Registries send one challenge; a header listing several
// is split and each returned, so the caller can pick Bearer over Basic.

export interface Challenge {
  /** Lowercased scheme: "bearer", "basic", ... */
  scheme: string;
  /** Lowercased parameter names -> values (realm, service, scope, error). */
  params: Record<string, string>;
}

/** Every challenge in the header value(s); [] when there is none. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) out.push(...parseOne(v));
  return out;
}

function parseOne(s: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = s.length;
  const skipWs = () => { while (i < n && (s[i] === ' ' || s[i] === '\t')) i++; };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipWs();
    if (s[i] === ',') { i++; continue; }
    const start = i;
    const name = token();
    if (!name) { i++; continue; }
    skipWs();
    if (s[i] === '=') {
      i++;
      skipWs();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < n && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < n) i++;
          value += s[i++];
        }
        i++;
      } else {
        const vs = i;
        while (i < n && s[i] !== ',' && s[i] !== ' ') i++;
        value = s.slice(vs, i);
      }
      if (!current) current = { scheme: '', params: {} };
      current.params[name.toLowerCase()] = value;
    } else {
      // A bare token starts a new challenge (scheme name).
      void start;
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}
