/** What the picker needs to know of a peer. */
export interface Pickable {
  readonly isReady: boolean;
  /** Requests in flight on it. */
  readonly pending: number;
}

/**
 * Chooses the peer for a request: the ready peer with the fewest requests in flight, so a
 * slow or loaded server gets less. Ties go round-robin: the scan starts after the last
 * peer picked, so idle peers take turns instead of the first one taking everything.
 */
export class Picker {
  private start = 0;

  /** A ready peer that `accepts`, or null when there is none. */
  pick<T extends Pickable>(peers: readonly T[], accepts: (peer: T) => boolean = () => true): T | null {
    const count = peers.length;
    let best: T | null = null;
    let bestIndex = 0;
    for (let i = 0; i < count; i++) {
      const index = (this.start + i) % count;
      const peer = peers[index];
      if (!peer.isReady || (best !== null && peer.pending >= best.pending) || !accepts(peer)) continue;
      best = peer;
      bestIndex = index;
      if (peer.pending === 0) break;
    }
    if (best !== null) this.start = (bestIndex + 1) % count;
    return best;
  }
}
