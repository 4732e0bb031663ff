import { z } from "zod";

/**
 * The peer link's wire contract (docs/scale-out.md). Both are HTTP/2 streams on a link whose two
 * ends are authenticated by the gateway CA; nothing here is ever accepted on the public port.
 */
export const PEER_PATHS = {
  /** GET: the listener answers with one JSON line (Announcement) now and one after each change. */
  routes: "/hopgate-peer/v1/routes",
  /** POST: the stream's two directions carry one visitor's HTTP/1.1 exchange, bytes as they are. */
  exchange: "/hopgate-peer/v1/exchange",
} as const;

/** On an exchange stream: the visitor's forwarding chain as the relaying server computed it. */
export const PEER_FOR_HEADER = "x-hopgate-peer-for";

/** Largest announcement line a link accepts (about 60,000 domains of average length). */
export const MAX_ANNOUNCEMENT_BYTES = 4 * 1024 * 1024;

export const announcementSchema = z.object({ domains: z.array(z.string().min(1).max(253)) });
/** The full list of domains with an active tunnel on the announcing server. */
export type Announcement = z.infer<typeof announcementSchema>;
