/**
 * A flat header list (`[name, value, ...]`, as node's `rawHeaders`) with every Host field
 * replaced by one `Host: host`: a service's `host_header` for backends that check Host.
 */
export function withHost(headers: readonly string[], host: string): string[] {
  const result: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() !== "host")
      result.push(headers[i] as string, headers[i + 1] as string);
  }
  result.push("Host", host);
  return result;
}
