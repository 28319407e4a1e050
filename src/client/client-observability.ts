import {
  CallType,
  ClientCallTelemetry,
  ClientTelemetry,
  NOOP_CLIENT_CALL,
  NOOP_CLIENT_TELEMETRY,
  PeerPathObservation,
  createClientTelemetry,
} from '../observability';
import type { PeerConnection } from './peer-connection';

/**
 * A client's telemetry over its life: none until it first connects or sends (the
 * OpenTelemetry API is loaded and the tracer and meter are taken then, so that providers the
 * application registers at start-up are used), released when it closes, taken afresh when it
 * is used again.
 */
export class ClientObservability {
  private live: ClientTelemetry | null = null;

  /** `peers` is read when metrics are collected (the RTT and path of each connection). */
  constructor(private readonly peers: () => Iterable<PeerPathObservation>) {}

  /** The telemetry, created on first use since construction or the last {@link dispose}. */
  start(): ClientTelemetry {
    let live = this.live;
    if (live === null) {
      live = createClientTelemetry();
      if (live.enabled) live.observePeers(this.peers);
      this.live = live;
    }
    return live;
  }

  /**
   * The telemetry of a call starting now, as a child of the active span (the client's
   * telemetry is started by it if need be). With one peer the span names it from the start;
   * with several, the peer the request is written to does.
   */
  startCall(type: CallType, pattern: string, peers: readonly PeerConnection[]): ClientCallTelemetry {
    const telemetry = this.start();
    if (!telemetry.enabled) return NOOP_CLIENT_CALL;
    if (peers.length !== 1) return telemetry.startCall(type, pattern);
    return telemetry.startCall(type, pattern, peers[0].endpointId, peers[0].transport?.path);
  }

  /** The client closed: what the telemetry registered is released. */
  dispose(): void {
    const live = this.live;
    this.live = null;
    live?.dispose();
  }

  /** The telemetry in use, or the no-op before the client was first used. */
  get current(): ClientTelemetry {
    return this.live ?? NOOP_CLIENT_TELEMETRY;
  }
}
