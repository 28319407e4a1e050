/**
 * Memory a receiver may hold for messages it has not handed on yet: partly received frames
 * and inflated payloads. The decoder and the decompressor take from a budget before they
 * allocate, and give back once the bytes are handed on or dropped; the owner (the server)
 * decides the policy — a global pool across connections, refusing or closing the largest or
 * oldest holders when it runs out.
 */
export interface ReceiveBudget {
  /**
   * Takes `bytes` from the budget. False when they cannot be had: the caller then refuses the
   * message (it allocates nothing for it) and reports why.
   */
  reserve(bytes: number): boolean;
  /** Gives back bytes a successful `reserve` took. */
  release(bytes: number): void;
  /**
   * Told as the payload of a frame reserved for arrives: `received` of its `length` bytes so
   * far. Optional; lets the owner judge whether a partly received frame is still moving.
   */
  progress?(received: number, length: number): void;
}

/** A budget that never runs out (clients, tests). */
export const UNLIMITED_BUDGET: ReceiveBudget = {
  reserve: () => true,
  release: () => undefined,
};
