import type { ServiceSpec } from "../config/service-spec.js";
import { longestPrefixMatch } from "../protocol/path-prefix.js";

/**
 * Which configured service answers a request: the one a v2 server named (it routes by the
 * services this client announced), else the longest path prefix (a v1 server names every
 * request "web"). Never anything but a configured target.
 */
export function selectService(
  services: readonly ServiceSpec[],
  serviceName: string,
  path: string,
  version: 1 | 2,
): ServiceSpec | undefined {
  if (version === 2) return services.find((s) => s.name === serviceName);
  return longestPrefixMatch(services, path.split("?", 1)[0] ?? "/");
}
