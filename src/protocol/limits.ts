import type { MultiplexerLimits } from "./multiplexer.js";

/**
 * Defaults of a tunnel's limits. A 64 KiB chunk keeps per-frame overhead low (MEASURED.md:
 * 64 KiB chunks helped bulk transfers); a 512 KiB per-stream window lets one stream fill a
 * local link while bounding what a slow visitor can make the other side hold.
 */
export const DEFAULT_TUNNEL_LIMITS: MultiplexerLimits = {
  maxStreams: 10_000,
  maxChunkBytes: 64 * 1024,
  windowBytes: 512 * 1024,
  maxHeaderBytes: 64 * 1024,
  maxHeaderCount: 512,
};

/** Every gRPC message stays far below gRPC's customary 4 MiB limit; larger ones are refused. */
export const MAX_TUNNEL_MESSAGE_BYTES = 4 * 1024 * 1024;
