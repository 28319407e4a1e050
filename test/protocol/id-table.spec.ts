import fc from 'fast-check';
import { IdTable } from '../../src/protocol/id-table';

type Op = { kind: 'set'; id: number; value: number } | { kind: 'delete'; id: number } | { kind: 'get'; id: number };

describe('IdTable', () => {
  it('behaves as a Map of ids under any sequence of sets, deletes and lookups', () => {
    // Ids from a small range collide and cluster (probing, backward shifts); large ones exercise the high bits.
    const id = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), id, value: fc.integer() }),
      fc.record({ kind: fc.constant('delete' as const), id }),
      fc.record({ kind: fc.constant('get' as const), id }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 1, max: 64 }), (ops, initialCapacity) => {
        const table = new IdTable<number>(initialCapacity);
        const reference = new Map<number, number>();
        for (const o of ops) {
          if (o.kind === 'set') {
            table.set(o.id, o.value);
            reference.set(o.id, o.value);
          } else if (o.kind === 'delete') {
            expect(table.delete(o.id)).toBe(reference.delete(o.id));
          } else {
            expect(table.get(o.id)).toBe(reference.get(o.id));
            expect(table.has(o.id)).toBe(reference.has(o.id));
          }
          expect(table.size).toBe(reference.size);
        }
        for (const [key, value] of reference) expect(table.get(key)).toBe(value);
        expect(table.valuesNow().sort()).toEqual([...reference.values()].sort());
      }),
      { numRuns: 300 },
    );
  });

  it('keeps its requests through steady churn of consecutive ids, and clears', () => {
    const table = new IdTable<{ id: number }>();
    let deleted = 0;
    for (let id = 1; id <= 100_000; id++) {
      table.set(id, { id });
      if (id > 256 && table.delete(id - 256)) deleted++;
    }
    expect(deleted).toBe(100_000 - 256);
    expect(table.size).toBe(256);
    for (let id = 100_000 - 255; id <= 100_000; id++) expect(table.get(id)).toEqual({ id });
    expect(table.get(100_000 - 256)).toBeUndefined();
    table.clear();
    expect(table.size).toBe(0);
    expect(table.valuesNow()).toEqual([]);
    expect(table.has(100_000)).toBe(false);
  });

  it('refuses ids that are not non-negative safe integers', () => {
    const table = new IdTable<string>();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) expect(() => table.set(bad, 'x')).toThrow(RangeError);
    expect(table.size).toBe(0);
  });
});
