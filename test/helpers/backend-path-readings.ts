/**
 * How backends may read a request path the gateway forwards, as models for differential tests
 * of path rules: literally, decoding encoded separators (nginx passing `$uri`, Express, Go's
 * RawPath users), decoding every escape once or twice (proxy chains), or dropping `;` path
 * parameters first (Tomcat, Jetty, Spring); each then reads `\` as `/`, merges slashes and
 * removes dot segments, as those backends do.
 */
export function backendReadings(path: string): string[] {
  const decodeSeparators = (text: string) => text.replace(/%2F/gi, "/").replace(/%5C/gi, "\\");
  const stripParameters = (text: string) => text.replace(/;[^/]*/g, "");
  return [
    path,
    decodeSeparators(path),
    decodeAll(path),
    decodeAll(decodeAll(path)),
    decodeAll(stripParameters(path)),
    decodeAll(decodeAll(stripParameters(path))),
  ].map(clean);
}

/** Whether `path` is `prefix` or lies under it (whole segments). */
export function isUnder(prefix: string, path: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

function decodeAll(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

function clean(text: string): string {
  const segments = text
    .replace(/\\/g, "/")
    .split("/")
    .filter((segment) => segment !== "");
  const out: string[] = [];
  for (const segment of segments) {
    if (segment === "..") out.pop();
    else if (segment !== ".") out.push(segment);
  }
  return `/${out.join("/")}`;
}
