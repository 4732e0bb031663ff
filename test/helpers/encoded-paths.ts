import fc from "fast-check";

/** Path segments, plain and in the spellings that reach a protected one by another road. */
const segment = fc.constantFrom(
  "admin",
  "secret",
  "public",
  "x",
  "..",
  ".",
  "",
  "%2e%2e",
  "%252e%252e",
  "%61dmin",
  "a;b",
  "admin;v=1",
  "admin;",
);
/** What joins two segments: a slash, or something a backend may read as one. */
const separator = fc.constantFrom(
  "/",
  "//",
  "%2F",
  "%2f",
  "%252F",
  "%25252f",
  "%5C",
  "%5c",
  "%255C",
  ";/",
  "/;/",
);

/** Request paths (origin-form, no query) mixing encoded separators, dot segments and `;`. */
export const encodedPath = fc
  .array(fc.tuple(separator, segment), { minLength: 1, maxLength: 5 })
  .map((parts) => parts.map(([sep, seg], i) => (i === 0 ? `/${seg}` : `${sep}${seg}`)).join(""));
