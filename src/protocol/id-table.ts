/**
 * The requests in flight on one stream, by request id: a hash table with open addressing
 * (linear probing, backward-shift deletion) over a typed array of ids and an array of values.
 *
 * Why not a `Map`: V8 rebuilds a Map's table every few hundred insertions when entries keep
 * coming and going, and the table it leaves behind keeps a link to its successor (for
 * iterators) and its entries. Once one table has been moved to old space (any full
 * collection while a request is in flight does that), every later table and every request it
 * held are kept alive by the dead one until the next full collection, which itself moves the
 * current table, so it never ends: the server spent ≈40 % more CPU per request from then on
 * (docs/performance.md, "After a full collection"). Here the arrays are replaced only when the
 * table grows, and a removed entry's slot is cleared, so nothing outlives its request.
 */
export class IdTable<V> {
  private ids: Float64Array;
  private values: Array<V | undefined>;
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 64) {
    let capacity = 8;
    while (capacity < initialCapacity) capacity *= 2;
    this.ids = new Float64Array(capacity).fill(EMPTY);
    this.values = new Array<V | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    return this.slotOf(id) >= 0;
  }

  get(id: number): V | undefined {
    const slot = this.slotOf(id);
    return slot >= 0 ? this.values[slot] : undefined;
  }

  /** Adds or replaces the value of `id` (a non-negative safe integer). */
  set(id: number, value: V): this {
    if (!(id >= 0 && Number.isSafeInteger(id))) throw new RangeError(`request id ${id} is not a non-negative safe integer`);
    let slot = this.home(id);
    for (;;) {
      const at = this.ids[slot];
      if (at === id) {
        this.values[slot] = value;
        return this;
      }
      if (at === EMPTY) break;
      slot = (slot + 1) & this.mask;
    }
    this.ids[slot] = id;
    this.values[slot] = value;
    this.count++;
    // At most half full: probes stay short, and an empty slot always ends a search.
    if (this.count * 2 > this.mask + 1) this.grow();
    return this;
  }

  /** Removes `id`; false when it was not there. */
  delete(id: number): boolean {
    let hole = this.slotOf(id);
    if (hole < 0) return false;
    this.count--;
    // Backward-shift deletion: entries after the hole that probed past it move into it, so no
    // tombstones are needed and a later search still finds them.
    let slot = (hole + 1) & this.mask;
    while (this.ids[slot] !== EMPTY) {
      const home = this.home(this.ids[slot]);
      // The entry at `slot` may fill the hole when the hole lies on its probe path (cyclically
      // between its home slot and `slot`).
      if (((slot - home) & this.mask) >= ((slot - hole) & this.mask)) {
        this.ids[hole] = this.ids[slot];
        this.values[hole] = this.values[slot];
        hole = slot;
      }
      slot = (slot + 1) & this.mask;
    }
    this.ids[hole] = EMPTY;
    this.values[hole] = undefined;
    return true;
  }

  /** The values now in the table (a copy: the table may change while the caller goes through them). */
  valuesNow(): V[] {
    const out: V[] = [];
    for (let slot = 0; slot <= this.mask; slot++) if (this.ids[slot] !== EMPTY) out.push(this.values[slot] as V);
    return out;
  }

  clear(): void {
    this.ids.fill(EMPTY);
    this.values.fill(undefined);
    this.count = 0;
  }

  private slotOf(id: number): number {
    let slot = this.home(id);
    for (;;) {
      const at = this.ids[slot];
      if (at === id) return slot;
      if (at === EMPTY) return -1;
      slot = (slot + 1) & this.mask;
    }
  }

  /** The slot an id's search starts at: its low and high 32 bits mixed (ids are often consecutive). */
  private home(id: number): number {
    const low = id >>> 0;
    const high = (id / 0x100000000) >>> 0;
    return (Math.imul(low ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) >>> 0) & this.mask;
  }

  private grow(): void {
    const ids = this.ids;
    const values = this.values;
    const capacity = (this.mask + 1) * 2;
    this.ids = new Float64Array(capacity).fill(EMPTY);
    this.values = new Array<V | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.count = 0;
    for (let slot = 0; slot < ids.length; slot++) if (ids[slot] !== EMPTY) this.set(ids[slot], values[slot] as V);
  }
}

/** Marks a free slot (ids are non-negative). */
const EMPTY = -1;
