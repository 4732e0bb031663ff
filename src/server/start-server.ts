import { Registry } from "prom-client";
import type { ServerConfig } from "../config/server-settings.js";
import { createAccessLog } from "../lib/access-log.js";
import { CleanupStack } from "../lib/cleanup-stack.js";
import { coalescedTask } from "../lib/coalesced-task.js";
import { createGcPacer } from "../lib/gc-pacer.js";
import { compactHeap } from "../lib/heap-compaction.js";
import type { Logger } from "../lib/logger.js";
import { createMetricsListener } from "../lib/metrics-listener.js";
import { createReadinessProbe } from "../lib/readiness.js";
import { isWildcardPattern } from "../lib/wildcard-domain.js";
import { DEFAULT_TUNNEL_LIMITS } from "../protocol/limits.js";
import { AccessPolicies } from "./access/access-policies.js";
import { createAdminApiOnDemand } from "./admin/admin-on-demand.js";
import { advertisedHost, createAdvertisedServers } from "./cluster/advertised-servers.js";
import { PeerRoutes } from "./cluster/peer-routes.js";
import { createCertificateSource, tlsModeOf, type AcmeRetrySchedule } from "./certificate-sources.js";
import { DEFAULT_EXPIRY_MS, startServerRegistry } from "./cluster/server-registry.js";
import { createStoreChangeRouter } from "./cluster/store-change-router.js";
import { listenForStoreChanges, pollStoreChanges } from "./cluster/store-changes.js";
import { createChallengeTokens } from "./certs/acme/challenge-tokens.js";
import { createKyselyChallengeStore } from "./certs/acme/kysely-challenge-store.js";
import { createOrderBudget } from "./certs/acme/order-budget.js";
import { bindDefaultCertificate, createSniCallback } from "./certs/tls-binding.js";
import { startEdge } from "./edge/edge.js";
import { shareMetricsWithPrimary } from "./workers/worker-metrics.js";
import { createHttpListener } from "./http/http-listener.js";
import { AuthFailureLimiter } from "./limits/auth-failure-limiter.js";
import { createSharedAuthLockout } from "./limits/shared-auth-lockout.js";
import { resolveMaxConnections } from "./limits/connection-cap.js";
import { createFloodRecovery } from "./limits/flood-recovery.js";
import { createVisitorLimits } from "./limits/visitor-limits.js";
import { createProxyObserver } from "./metrics/proxy-observer.js";
import { createServerMetrics } from "./metrics/server-metrics.js";
import { createVisitorAddressOf } from "./edge/visitor-address.js";
import { createProxy, type ProxyOptions } from "./proxy/proxy.js";
import { RegisteredDomains } from "./registered-domains.js";
import { HopGateError } from "../lib/hopgate-error.js";
import { createAccessRepository, type AccessRepository } from "./store/access-repository.js";
import { openDatabase } from "./store/database.js";
import {
  createDomainRepository,
  type DomainChange,
  type DomainRepository,
} from "./store/domain-repository.js";
import { createGatewayLabels } from "./subdomains/gateway-labels.js";
import { LabelLeases } from "./subdomains/label-leases.js";
import { createTunnelAuthenticator } from "./subdomains/tunnel-authenticator.js";
import { SessionRegistry } from "./tunnel/session-registry.js";
import { createTunnelEndpoint } from "./tunnel/tunnel-endpoint.js";

export interface ServerHandle {
  readonly httpsPort: number;
  readonly httpPort: number;
  /** This server's id in the gateway's server registry; undefined when it runs none. */
  readonly serverId: string | undefined;
  /** Port of /metrics, /healthz and /readyz; undefined when HOP_METRICS_LISTEN is off. */
  readonly metricsPort: number | undefined;
  readonly registry: SessionRegistry;
  readonly domains: DomainRepository;
  /** Visitor access policies in the store (the admin API's /domains/{domain}/access). */
  readonly access: AccessRepository;
  /** PEM of the certificate served by default (the self-signed one in development). */
  defaultCertificatePem(): string;
  /**
   * Stops accepting connections (GOAWAY to HTTP/2 ones), asks v2 clients to drain (they open
   * replacement tunnels elsewhere), lets in-flight requests finish for up to `drainMs`, then
   * closes everything: requests still running end with 502 (or, when their response had
   * begun, a cut stream) within FINAL_FLUSH_MS more. `stop()` without a drain time cuts at once.
   */
  stop(drainMs?: number): Promise<void>;
}

/** How this process runs: alone (the default) or as one worker of `hopgate server --workers N`. */
export interface StartServerOptions {
  /**
   * Set in a worker: it joins the server registry on the SQLite store too (the workers share its
   * file), and opens no metrics listener; its metrics go to the primary, which serves the sum.
   */
  readonly worker?: { readonly index: number };
  /**
   * Hears the name of each start step done (a component up, e.g. "store", "certificates"), so
   * that a start past its deadline can say how far it got.
   */
  readonly onStepDone?: (step: string) => void;
  /** With ACME: a shorter retry schedule after failed orders than the default (tests only). */
  readonly acmeRetry?: AcmeRetrySchedule;
}

const DOMAIN_REFRESH_INTERVAL_MS = 30_000;
const HOUR_MS = 3_600_000;
/** After the shutdown deadline, how long the 502 pages of cut requests may take to go out. */
const FINAL_FLUSH_MS = 500;

/**
 * Composition root of `hopgate server`: reading it shows the architecture. The store and the
 * registered-domain set; certificates (self-signed, files or ACME) behind SNI; the tunnel
 * session registry; the proxy, the tunnel endpoint and the admin API behind the one TLS
 * listener; the plain HTTP listener for ACME challenges and redirects; metrics and health.
 */
export async function startServer(
  config: ServerConfig,
  logger: Logger,
  options: StartServerOptions = {},
): Promise<ServerHandle> {
  const serverLogger = logger.child({ component: "server" });
  const cleanup = new CleanupStack(options.onStepDone);
  try {
    return await assemble(config, options, logger, serverLogger, cleanup);
  } catch (error) {
    await cleanup.run((name, cause) =>
      serverLogger.error({ err: cause, step: name }, "cleanup after failed start"),
    );
    throw error;
  }
}

async function assemble(
  config: ServerConfig,
  options: StartServerOptions,
  logger: Logger,
  serverLogger: Logger,
  cleanup: CleanupStack,
): Promise<ServerHandle> {
  const database = await openDatabase({ dsn: config.dbDsn, dataDir: config.dataDir, logger });
  cleanup.push("store", () => database.close());
  // Changes made through another server sharing the store arrive within about a second
  // (docs/scale-out.md, "Shared state"). Listened for before anything is loaded, each component
  // attached once loaded: a change committed between a first load and the first signal (the
  // SQLite counter's first read) would otherwise wait for the periodic refresh.
  const storeChangeRouter = createStoreChangeRouter();
  const changesOptions = {
    logger: logger.child({ component: "store-changes" }),
    onChange: storeChangeRouter.onChange,
  };
  const storeChanges =
    database.dialect === "postgres" && config.dbDsn
      ? listenForStoreChanges(config.dbDsn, changesOptions)
      : pollStoreChanges(database.db, changesOptions);
  cleanup.push("store changes", () => storeChanges.stop());
  await storeChanges.ready;

  // Changes made elsewhere (another server on the store), found by a reload: applied like ours.
  const registered = new RegisteredDomains({
    onChanged: (change) => domainChanged.forEach((f) => f({ ...change, elsewhere: true })),
  });
  let sessionsChanged = (): void => {};
  const registry = new SessionRegistry({ onChange: () => sessionsChanged() });
  const metricsRegistry = new Registry();
  // The server registry of a gateway of several servers (docs/scale-out.md): every server on
  // PostgreSQL; on the embedded SQLite store, only the workers of `--workers N`.
  // With an advertise address, v2 clients hear of every live server and hold a tunnel to each.
  const advertised =
    database.dialect === "postgres" && config.advertiseAddr
      ? createAdvertisedServers(config.advertiseAddr)
      : undefined;
  const gateway =
    database.dialect === "postgres" || options.worker
      ? startServerRegistry({
          db: database.db,
          dialect: database.dialect,
          advertiseAddress: config.advertiseAddr,
          sessions: registry,
          logger: logger.child({ component: "server-registry" }),
          metrics: metricsRegistry,
          onLiveServers: advertised && ((addresses) => advertised.update(addresses)),
        })
      : undefined;
  if (gateway) {
    sessionsChanged = () => gateway.sessionsChanged();
    cleanup.push("server registry", () => gateway.stop());
  }
  if (config.peerListen && !gateway)
    throw new HopGateError(
      "config_invalid",
      "HOP_SERVER_PEER_LISTEN needs a PostgreSQL store (HOP_DB_DSN) or --workers",
    );
  // Other servers' tunnels, as their peer links announce them (docs/scale-out.md).
  const peerRoutes = config.peerListen ? new PeerRoutes() : undefined;
  const metrics = createServerMetrics({
    registry: metricsRegistry,
    isRegisteredDomain: (d) => registered.has(d),
  });
  metrics.setSessionSource(() => registry.list());
  const domainChanged: Array<(change: DomainChange & { readonly elsewhere?: boolean }) => void> = [];
  const domains = createDomainRepository(database, {
    onChange: (change) => domainChanged.forEach((f) => f(change)),
  });
  // Labels under wildcard domains (docs/access.md, Self-service subdomains).
  const labelReleased: Array<(hostname: string) => void> = [];
  const leases = new LabelLeases({
    graceMs: config.subdomainGraceSeconds * 1000,
    maxLabelsPerBase: config.subdomainMaxLabels,
    onReleased: (hostname) => {
      serverLogger.info({ domain: hostname }, "subdomain label released");
      labelReleased.forEach((f) => f(hostname));
    },
  });
  cleanup.push("label leases", () => leases.stop());
  // A wildcard pattern is registered but never a host that is served.
  const isServed = (domain: string) =>
    (registered.has(domain) && !isWildcardPattern(domain)) || leases.holds(domain);
  domainChanged.push(({ type, domain }) => {
    if (isWildcardPattern(domain) && type !== "registered") {
      const reason = type === "key_rotated" ? "client key rotated" : "domain unregistered";
      for (const hostname of leases.dropPattern(domain)) registry.closeDomain(hostname, reason);
    }
    // A name registered on its own outranks a label that held it: its tunnels end.
    if (type === "registered" && leases.drop(domain)) registry.closeDomain(domain, "registered as a domain");
    if (type === "registered") return registered.add(domain);
    if (type === "unregistered") {
      registered.delete(domain);
      metrics.forgetDomain(domain);
    }
    const closed = registry.closeDomain(
      domain,
      type === "key_rotated" ? "client key rotated" : "domain unregistered",
    );
    if (closed > 0) serverLogger.info({ domain, closed, change: type }, "closed tunnels of a changed domain");
  });
  registered.replaceAll(await domains.allDomainKeys());
  registered.startRefreshing(() => domains.allDomainKeys(), DOMAIN_REFRESH_INTERVAL_MS, serverLogger);
  cleanup.push("registered domains", () => registered.stop());

  // With ACME, tokens go through the store so that any server of the gateway answers the CA.
  const challenges = createChallengeTokens(
    tlsModeOf(config) === "acme"
      ? { shared: createKyselyChallengeStore(database), logger: logger.child({ component: "acme" }) }
      : {},
  );
  const certificates = await createCertificateSource({
    config,
    database,
    domains,
    challenges,
    logger,
    onOrder: (event) => metrics.acmeOrder(event.result),
    ...(options.acmeRetry ? { acmeRetry: options.acmeRetry } : {}),
    labels: leases,
    labelOrders: createOrderBudget([
      {
        windowMs: HOUR_MS,
        max: config.subdomainCertOrdersPerHour,
        name: "HOP_SUBDOMAIN_CERT_ORDERS_PER_HOUR",
      },
      {
        windowMs: 168 * HOUR_MS,
        max: config.subdomainCertOrdersPerWeek,
        name: "HOP_SUBDOMAIN_CERT_ORDERS_PER_WEEK",
      },
    ]),
  });
  await certificates.provider.start();
  cleanup.push("certificates", () => certificates.provider.stop());
  metrics.setCertificateExpirySource(() => certificates.provider.expiries());
  if (certificates.mode === "acme") {
    const acme = certificates.provider;
    domainChanged.push(({ type, domain, elsewhere }) => {
      // The server where the change was made orders or removes the certificate.
      if (elsewhere || isWildcardPattern(domain)) return; // its labels get certificates when held
      if (type === "registered") void acme.ensure(domain);
      if (type === "unregistered") void acme.remove(domain);
    });
    labelReleased.push((hostname) => acme.forget(hostname));
  }

  // Labels held gateway-wide, first come first served across the servers (or workers).
  const gatewayLabels = gateway
    ? createGatewayLabels({
        db: database.db,
        dialect: database.dialect,
        serverId: gateway.self.id,
        maxLabelsPerBase: config.subdomainMaxLabels,
        serverExpiryMs: DEFAULT_EXPIRY_MS,
        heldHere: () => leases.all(),
        logger: logger.child({ component: "gateway-labels" }),
      })
    : undefined;
  if (gatewayLabels) {
    labelReleased.push((hostname) => gatewayLabels.released(hostname));
    cleanup.push("gateway labels", () => gatewayLabels.stop());
  }
  const authenticator = createTunnelAuthenticator({
    domains,
    leases,
    gateway: gatewayLabels,
    // A tunnel's domain may be newer than the last reload (its notification came before this
    // server listened, or its reload failed): known from now on, so that its removal elsewhere
    // is seen by the next reload and closes the tunnel.
    onConfirmed: (name) => registered.confirm(name),
    isReserved: (hostname) =>
      hostname === config.domain ||
      config.proxyDomains.includes(hostname) ||
      hostname === advertisedHost(config.advertiseAddr),
  });
  const failureLimiter = (blockedMessage: string) =>
    new AuthFailureLimiter({
      maxFailures: config.authMaxFailures,
      windowMs: config.authFailureWindowSeconds * 1000,
      blockMs: config.authBlockSeconds * 1000,
      onBlocked: (address, blockMs) =>
        serverLogger.warn(
          { remote_addr: address, block_seconds: blockMs / 1000, max_failures: config.authMaxFailures },
          blockedMessage,
        ),
    });
  // One limiter for both doors: an address guessing keys at either is refused at both.
  // Counted in the store too on a gateway (PostgreSQL, or the workers of one host on SQLite), so
  // that guesses spread over its servers add up. Not for a single embedded server, where a write
  // per failure would only cost.
  const blockedMessage = "address blocked after repeated failed authentications";
  const localLockout = failureLimiter(blockedMessage);
  const sharedLockout = gateway
    ? createSharedAuthLockout({
        local: localLockout,
        database,
        maxFailures: config.authMaxFailures,
        windowMs: config.authFailureWindowSeconds * 1000,
        blockMs: config.authBlockSeconds * 1000,
        logger: serverLogger,
        onBlocked: (address, blockMs) =>
          serverLogger.warn(
            {
              remote_addr: address,
              block_seconds: blockMs / 1000,
              max_failures: config.authMaxFailures,
              shared: true,
            },
            blockedMessage,
          ),
      })
    : undefined;
  if (sharedLockout) {
    cleanup.push("shared auth lockout", () => sharedLockout.stop());
    await sharedLockout.reloadBlocks();
  }
  const authLimiter = sharedLockout ?? localLockout;
  // Visitors' basic-auth failures have their own limiter: guessing a site's password must not
  // lock the address out of the tunnel endpoint and the admin API, nor the other way round.
  const accessPolicies = new AccessPolicies({
    failures: failureLimiter("visitor address blocked after repeated failed basic-auth attempts"),
    logger,
  });
  const access = createAccessRepository(database, {
    onChange: ({ domain, policy }) => accessPolicies.set(domain, policy),
  });
  domainChanged.push(({ type, domain }) => {
    if (type === "unregistered") accessPolicies.set(domain, undefined);
  });
  accessPolicies.replaceAll(await access.all());
  accessPolicies.startRefreshing(() => access.all(), DOMAIN_REFRESH_INTERVAL_MS, serverLogger);
  cleanup.push("access policies", () => accessPolicies.stop());
  // The store-change signals (listened for since the store opened); the periodic refreshes
  // above stay as the safety net.
  const reloadDomains = coalescedTask(async () => {
    await registered.refresh(() => domains.allDomainKeys(), serverLogger);
    await accessPolicies.refresh(() => access.all(), serverLogger);
  });
  storeChangeRouter.attach("domains", () => reloadDomains());
  storeChangeRouter.attach("auth_blocks", () => void sharedLockout?.reloadBlocks());
  // A certificate stored by another server is served here within about a second as well
  // (docs/scale-out.md, "Shared certificates"); a resync re-reads every stored revision.
  const acmeManager = certificates.mode === "acme" ? certificates.provider : undefined;
  storeChangeRouter.attach("certificates", (cause) =>
    acmeManager?.certificatesChanged({ full: cause === "resync" }),
  );
  const shutdown = new AbortController();
  let draining = false;
  const visitorLimits = createVisitorLimits(config);
  const visitorAddress = createVisitorAddressOf(config.trustedProxies, config.trustedProxyHeader);
  cleanup.push("visitor limits", () => visitorLimits.stop());
  const proxyOptions: ProxyOptions = {
    lookup: registry,
    isRegistered: isServed,
    proxyTimeoutMs: config.proxyTimeoutSeconds * 1000,
    sendTimeoutMs: config.idleTimeoutSeconds * 1000,
    bodyTimeoutMs: config.bodyTimeoutSeconds * 1000,
    gate: visitorLimits,
    maxBodyBytes: config.maxBodyBytes,
    trustRequestId: config.trustRequestId,
    visitorAddress,
    onLimited: (reason) => metrics.visitorLimited(reason),
    onTrailers: (outcome) => metrics.responseTrailers(outcome),
    access: accessPolicies,
    onAccessDenied: (reason) => metrics.accessDenied(reason),
    // A shutting-down server gets no new tunnels: its visitors need not wait for one.
    tunnelWaitMs: () => (draining ? 0 : config.tunnelWaitSeconds * 1000),
    onFinished: createProxyObserver({
      metrics,
      accessLog: createAccessLog({ logger, includeQuery: config.logQuery }),
    }),
  };
  const proxy = createProxy({
    ...proxyOptions,
    // A wildcard label leased on another server is served there.
    isRegistered: (domain) => isServed(domain) || (peerRoutes?.has(domain) ?? false),
    peers: peerRoutes,
  });
  if (gateway && peerRoutes && config.peerListen) {
    // Loaded only with a peer listener: its X.509 code (@peculiar/x509 and asn1js, ~0.5 MB of
    // JavaScript) cost a server without peers ~3 MiB of idle heap (docs/performance.md).
    const { startPeerRelay } = await import("./cluster/peer-relay.js");
    const relay = await startPeerRelay({
      listen: config.peerListen,
      advertiseAddress: config.peerAdvertiseAddr,
      database,
      registry: gateway,
      sessions: registry,
      routes: peerRoutes,
      // Limits and the access policy were applied by the server the visitor reached; a relayed
      // request is never relayed again and never waits for a tunnel here.
      holderProxy: (visitorAddressOf) =>
        createProxy({
          ...proxyOptions,
          gate: undefined,
          access: undefined,
          trustRequestId: true,
          tunnelWaitMs: () => 0,
          visitorAddress: visitorAddressOf,
        }),
      logger: logger.child({ component: "peer" }),
    });
    cleanup.push("peer relay", () => relay.close());
    const mirror = sessionsChanged;
    sessionsChanged = () => {
      mirror();
      relay.announce();
    };
  }
  const floodRecovery = createFloodRecovery();
  cleanup.push("flood recovery", () => floodRecovery.stop());
  const defaultPair = certificates.provider.defaultCertificate();
  const edge = await startEdge({
    listen: config.httpsListen,
    tls: {
      cert: defaultPair.certificatePem,
      key: defaultPair.privateKeyPem,
      SNICallback: createSniCallback(certificates.provider, logger),
    },
    mainDomain: config.domain,
    serverHosts: [advertisedHost(config.advertiseAddr) ?? []].flat(),
    debug: config.debug,
    logger: logger.child({ component: "edge" }),
    timeouts: {
      headersMs: config.headersTimeoutSeconds * 1000,
      requestMs: config.requestTimeoutSeconds * 1000,
      idleMs: config.idleTimeoutSeconds * 1000,
    },
    maxHeaderBytes: config.maxHeaderBytes,
    onConnection: (socket) => {
      visitorLimits.trackConnection(socket);
      floodRecovery.track(socket);
    },
    onRejected: (reason) => metrics.visitorRejected(reason),
    maxConnections: resolveMaxConnections(config.maxConnections),
    handshakeTimeoutMs: config.tlsHandshakeTimeoutSeconds * 1000,
    onDropped: (reason) => metrics.connectionDropped(reason),
    tunnel: createTunnelEndpoint({
      authenticator,
      authLimiter,
      clientAddress: visitorAddress,
      registry,
      limits: { ...DEFAULT_TUNNEL_LIMITS, maxStreams: config.maxStreamsPerTunnel },
      handshakeTimeoutMs: config.handshakeTimeoutSeconds * 1000,
      pingIntervalMs: config.pingIntervalSeconds * 1000,
      pingTimeoutMs: config.pingTimeoutSeconds * 1000,
      logger: logger.child({ component: "tunnel" }),
      isDraining: () => draining,
      onHandshake: (result) => metrics.handshake(result),
      shutdownSignal: shutdown.signal,
      gcPacer: createGcPacer(),
      advertisedServers: advertised,
    }),
    admin: createAdminApiOnDemand({
      domains,
      access,
      adminApiKey: config.adminApiKey,
      mainDomain: config.domain,
      sessions: registry,
      gatewaySessions: gateway,
      certificates: certificates.mode === "acme" ? certificates.provider : undefined,
      labels: leases,
      gatewayLabels,
      logger: logger.child({ component: "admin" }),
      auth: {
        limiter: authLimiter,
        onFailure: () => metrics.adminAuthFailure(),
        onBlocked: () => metrics.adminAuthBlocked(),
        visitorAddress,
      },
    }),
    proxy,
  });
  cleanup.push("https listener", () => edge.close());
  cleanup.push("tunnels", () => {
    shutdown.abort();
    for (const session of registry.all()) session.close("server stopped");
  });
  const unbind = bindDefaultCertificate(edge.server, certificates.provider);
  cleanup.push("default certificate binding", unbind);

  const http = createHttpListener({
    httpsPort: edge.port,
    challenges,
    plainHttpProxy: config.httpProxy ? proxy.handleRequest : undefined,
    logger,
    onRejected: (reason) => metrics.visitorRejected(reason),
  });
  const httpPort = await http.listen(config.httpListen);
  cleanup.push("http listener", () => http.close());

  if (options.worker) shareMetricsWithPrimary(metricsRegistry);
  const metricsListener =
    config.metricsListen && !options.worker
      ? await createMetricsListener({
          listen: config.metricsListen,
          registry: metricsRegistry,
          readiness: createReadinessProbe({
            checks: [
              { name: "store", check: () => database.ping() },
              { name: "https_listener", check: () => assertServing(draining) },
            ],
          }),
          logger,
        })
      : undefined;
  if (metricsListener) cleanup.push("metrics listener", () => metricsListener.close());
  // Start-up's garbage is dead now: give its pages back before the server idles.
  compactHeap();
  serverLogger.info(
    {
      https_port: edge.port,
      http_port: httpPort,
      metrics_port: metricsListener?.port,
      domain: config.domain,
      tls: certificates.mode,
    },
    "HopGate server listening",
  );

  return {
    httpsPort: edge.port,
    httpPort,
    serverId: gateway?.self.id,
    metricsPort: metricsListener?.port,
    registry,
    domains,
    access,
    defaultCertificatePem: () => certificates.provider.defaultCertificate().certificatePem,
    async stop(drainMs = 0) {
      draining = true;
      advertised?.leave();
      const connectionsClosed = edge.stopAccepting();
      for (const session of registry.all()) session.drain(drainMs, "server shutting down");
      // Drained tunnels end their calls, answered visitors' connections close (GOAWAY,
      // Connection: close): waiting for the last connection lets the last bytes go out.
      if (!(await settlesWithin(connectionsClosed, drainMs))) {
        // Past the deadline: what still runs gets its 502 page, with a moment to send it.
        for (const session of registry.all()) session.close("drain deadline passed");
        if (drainMs > 0) await settlesWithin(connectionsClosed, FINAL_FLUSH_MS);
      }
      await cleanup.run((name, error) =>
        serverLogger.error({ err: error, step: name }, "shutdown step failed"),
      );
    },
  };
}

/** Whether `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Readiness of the TLS listener: bound since start-up, not ready once a shutdown drains it. */
function assertServing(draining: boolean): void {
  if (draining) throw new Error("draining for shutdown");
}
