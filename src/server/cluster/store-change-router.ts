import type { StoreChangeCause, StoreTopic } from "./store-changes.js";

export interface StoreChangeRouter {
  /** The store-change listener's `onChange`. */
  readonly onChange: (topic: StoreTopic, cause: StoreChangeCause) => void;
  /**
   * Hands `topic`'s signals to `handler` from now on; a signal that came before is delivered at
   * once (one, "resync" outranking "changed"). Attach once the topic's first load is done.
   */
  attach(topic: StoreTopic, handler: (cause: StoreChangeCause) => void): void;
}

/**
 * Lets a server listen for store changes before it loads anything from the store, and attach
 * each component once that component has loaded. A change committed between the listener's
 * start and a component's first load is then never lost: either the load read it, or its signal
 * was kept and is delivered when the component attaches (a spare reload at worst).
 */
export function createStoreChangeRouter(): StoreChangeRouter {
  const handlers = new Map<StoreTopic, (cause: StoreChangeCause) => void>();
  const kept = new Map<StoreTopic, StoreChangeCause>();
  return {
    onChange(topic, cause) {
      const handler = handlers.get(topic);
      if (handler) return handler(cause);
      if (kept.get(topic) !== "resync") kept.set(topic, cause);
    },
    attach(topic, handler) {
      handlers.set(topic, handler);
      const cause = kept.get(topic);
      kept.delete(topic);
      if (cause) handler(cause);
    },
  };
}
