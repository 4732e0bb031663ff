import type { AdminApi, AdminApiOptions, createAdminApi } from "./admin-api.js";
import type { ErrorBody } from "./admin-error.js";

interface AdminModule {
  readonly createAdminApi: typeof createAdminApi;
}

/**
 * The admin API's request listener, with the API itself (Hono, zod-openapi and the route
 * schemas: ~2 MB of heap) built on the first admin request instead of at start-up, since a
 * server answers admin requests rarely (docs/performance.md, change 8). Requests that arrive
 * while it loads wait for it. If loading fails, each waiting request gets a 500 in the admin
 * API's error format, and the next request tries again. `load` is the module's import.
 */
export function createAdminApiOnDemand(
  options: AdminApiOptions,
  load: () => Promise<AdminModule> = () => import("./admin-api.js"),
): AdminApi["handle"] {
  let handle: AdminApi["handle"] | undefined;
  let loading: Promise<AdminApi["handle"]> | undefined;
  return (req, res) => {
    if (handle) return handle(req, res);
    loading ??= load().then(({ createAdminApi }) => (handle = createAdminApi(options).handle));
    loading.then(
      (loaded) => loaded(req, res),
      (error: unknown) => {
        loading = undefined;
        options.logger.error({ err: error }, "admin API failed to load");
        if (res.headersSent) return void res.destroy();
        const body: ErrorBody = { success: false, error: { code: "internal", message: "internal error" } };
        res.statusCode = 500;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(body));
      },
    );
  };
}
