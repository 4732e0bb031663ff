/**
 * A FIFO queue bounded by the summed size of its items: adding past the bound drops the oldest
 * items. Adding and dropping are amortized O(1) (a head index, compacted now and then), so a full
 * queue costs a writer no more than an empty one.
 */
export interface BoundedQueue<T> {
  readonly length: number;
  readonly size: number;
  /** Appends; returns how many of the oldest items were dropped to stay within the bound. */
  push(item: T): number;
  /** Puts `items` back in front (a failed batch), then drops the oldest beyond the bound. */
  unshift(items: readonly T[]): number;
  /** Removes and returns the oldest items up to `maxSize` (always at least one if any). */
  take(maxSize: number): T[];
}

export function createBoundedQueue<T>(options: {
  readonly maxSize: number;
  readonly sizeOf: (item: T) => number;
}): BoundedQueue<T> {
  let items: Array<T | undefined> = [];
  let head = 0;
  let size = 0;

  function dropOverflow(): number {
    let dropped = 0;
    while (size > options.maxSize && head < items.length) {
      size -= options.sizeOf(items[head]!);
      items[head++] = undefined;
      dropped++;
    }
    compact();
    return dropped;
  }

  function compact(): void {
    if (head === items.length) {
      items = [];
      head = 0;
    } else if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head);
      head = 0;
    }
  }

  return {
    get length() {
      return items.length - head;
    },
    get size() {
      return size;
    },
    push(item) {
      items.push(item);
      size += options.sizeOf(item);
      return size > options.maxSize ? dropOverflow() : 0;
    },
    unshift(front) {
      items = [...front, ...items.slice(head)];
      head = 0;
      for (const item of front) size += options.sizeOf(item);
      return dropOverflow();
    },
    take(maxSize) {
      const start = head;
      let taken = 0;
      while (head < items.length) {
        const itemSize = options.sizeOf(items[head]!);
        if (head > start && taken + itemSize > maxSize) break;
        taken += itemSize;
        head++;
      }
      const batch = items.slice(start, head) as T[];
      items.fill(undefined, start, head);
      size -= taken;
      compact();
      return batch;
    },
  };
}
