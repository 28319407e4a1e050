import type { IoConnection } from '../iroh';
import type { IrohConnectionInfo } from '../interfaces/iroh-events.interface';
import type { ConnectionBudget } from './receive-pool';
import type { ServerChannel } from './server-channel';

/** One client connection and the streams it opened. */
export interface PeerConnection {
  readonly connection: IoConnection;
  readonly remoteEndpointId: string;
  readonly channels: Set<ServerChannel>;
  /** Its share of the server's receive memory. */
  readonly budget: ConnectionBudget;
  /** Malformed or oversized messages it sent, over all its streams. */
  badMessages: number;
}

/** The connections a server serves, and the handshakes under way that will count as ones. */
export class ConnectionRegistry {
  private readonly peers = new Set<PeerConnection>();
  /** Connections accepted whose handshake or authorization is still under way. */
  private handshakes = 0;

  /** Connections served, plus handshakes under way (both count against maxConnections). */
  get size(): number {
    return this.peers.size + this.handshakes;
  }

  /** Each connection's peer, streams and requests in flight. */
  get info(): IrohConnectionInfo[] {
    return [...this.peers].map(peer => {
      let inflightRequests = 0;
      for (const channel of peer.channels) inflightRequests += channel.inflightCount;
      return { endpointId: peer.remoteEndpointId, streams: peer.channels.size, inflightRequests };
    });
  }

  /** Endpoint ids of the peers connected now (one per connection). */
  get endpointIds(): string[] {
    return [...this.peers].map(p => p.remoteEndpointId);
  }

  /** Handshakes (and authorizations) under way. */
  get handshakesUnderWay(): number {
    return this.handshakes;
  }

  /** Counts a handshake; the function returned uncounts it (once). */
  handshakeStarted(): () => void {
    this.handshakes++;
    let counted = true;
    return () => {
      if (counted) this.handshakes--;
      counted = false;
    };
  }

  add(connection: IoConnection, remoteEndpointId: string, budget: ConnectionBudget): PeerConnection {
    const peer: PeerConnection = { connection, remoteEndpointId, channels: new Set(), budget, badMessages: 0 };
    this.peers.add(peer);
    return peer;
  }

  /** Forgets a connection; false when it was already forgotten. */
  remove(peer: PeerConnection): boolean {
    return this.peers.delete(peer);
  }

  forgetChannel(channel: ServerChannel): void {
    for (const peer of this.peers) if (peer.channels.delete(channel)) return;
  }

  /** Every stream of every connection. */
  *channels(): IterableIterator<{ peer: PeerConnection; channel: ServerChannel }> {
    for (const peer of this.peers) for (const channel of peer.channels) yield { peer, channel };
  }

  /** Hands over every connection and forgets them all (shutdown). */
  takeAll(): PeerConnection[] {
    const peers = [...this.peers];
    this.peers.clear();
    return peers;
  }
}
