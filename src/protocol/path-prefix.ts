/**
 * The entry with the longest path prefix of `path`, matching whole segments: "/api" serves
 * "/api" and "/api/x" but not "/apix". Shared by the server's routing and the client's.
 */
export function longestPrefixMatch<T extends { readonly pathPrefix: string }>(
  entries: readonly T[],
  path: string,
): T | undefined {
  let best: T | undefined;
  for (const entry of entries) {
    const prefix = entry.pathPrefix;
    if (best && prefix.length <= best.pathPrefix.length) continue;
    if (matchesPrefix(prefix, path)) best = entry;
  }
  return best;
}

function matchesPrefix(prefix: string, path: string): boolean {
  if (prefix === "/" || prefix === path) return true;
  if (!path.startsWith(prefix)) return false;
  if (prefix.endsWith("/")) return true;
  const next = path.charCodeAt(prefix.length);
  return next === 47 /* / */ || next === 63; /* ? */
}
