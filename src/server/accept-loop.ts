import type { LoggerService } from '@nestjs/common';
import iroh = require('../iroh/binding');
import { bindingErrorMessage, closeConnection } from '../iroh';
import { ErrorCode } from '../protocol';
import { ConnectionRegistry, PeerConnection } from './connection-registry';
import type { ServerChannel } from './server-channel';
import type { ServerLimits } from './server-limits';

/** What accepting connections needs from the server. */
export interface AcceptHost {
  readonly logger: LoggerService;
  readonly limits: Pick<ServerLimits, 'maxConnections' | 'maxStreamsPerConnection'>;
  readonly registry: ConnectionRegistry;
  /** True once the server is shutting down: new connections are refused. */
  readonly closing: boolean;
  /** Whether `endpointId` may connect (allowPeers). */
  isAllowed(endpointId: string): Promise<boolean>;
  /** A channel for a stream the peer opened; the host starts it. */
  openChannel(bi: iroh.BiStream, peer: PeerConnection): ServerChannel;
  peerConnected(peer: PeerConnection): void;
  peerClosed(peer: PeerConnection, reason: string): void;
}

/**
 * Accepts connections until the endpoint closes: refuses them past `maxConnections` or
 * while shutting down, authorizes each peer (allowPeers) once its handshake has told who it
 * is, and accepts the streams it opens up to `maxStreamsPerConnection`.
 */
export async function acceptConnections(endpoint: iroh.Endpoint, host: AcceptHost): Promise<void> {
  for (;;) {
    let incoming: iroh.Incoming | null;
    try {
      incoming = await endpoint.acceptNext();
    } catch {
      return;
    }
    if (!incoming) return;
    if (host.closing) {
      incoming.refuse().catch(() => undefined);
      continue;
    }
    // Handshakes in progress count too, or a burst of connections would all get in.
    if (host.registry.size >= host.limits.maxConnections) {
      host.logger.warn?.(`Refused a connection: ${host.limits.maxConnections} connections already (maxConnections)`);
      incoming.refuse().catch(() => undefined);
      continue;
    }
    const handshakeDone = host.registry.handshakeStarted();
    void acceptConnection(incoming, host, handshakeDone).finally(handshakeDone);
  }
}

/** Accepts and serves one connection; `handshakeDone` is called once it counts as a peer. */
async function acceptConnection(incoming: iroh.Incoming, host: AcceptHost, handshakeDone: () => void): Promise<void> {
  let connection: iroh.Connection;
  try {
    connection = await (await incoming.accept()).connect();
  } catch (err) {
    host.logger.debug?.(`Incoming connection failed: ${bindingErrorMessage(err)}`);
    return;
  }
  if (host.closing) {
    closeConnection(connection, ErrorCode.GOING_AWAY, 'server shutting down');
    return;
  }
  const remoteEndpointId = connection.remoteId().toString();
  if (!(await authorize(host, remoteEndpointId))) {
    closeConnection(connection, ErrorCode.UNAUTHORIZED, 'peer not allowed');
    return;
  }
  try {
    connection.setMaxConcurrentBiStreams(BigInt(host.limits.maxStreamsPerConnection));
  } catch {
    // The connection is already closed; the stream loop below ends at once.
  }
  const peer = host.registry.add(connection, remoteEndpointId);
  handshakeDone();
  host.peerConnected(peer);
  connection.closed().then(
    reason => host.peerClosed(peer, reason),
    err => host.peerClosed(peer, bindingErrorMessage(err)),
  );
  for (;;) {
    let bi: iroh.BiStream;
    try {
      bi = await connection.acceptBi();
    } catch {
      return;
    }
    if (peer.channels.size >= host.limits.maxStreamsPerConnection) {
      // QUIC's initial stream credit can exceed the limit set after the handshake.
      refuseStream(bi);
      continue;
    }
    peer.channels.add(host.openChannel(bi, peer));
  }
}

async function authorize(host: AcceptHost, endpointId: string): Promise<boolean> {
  try {
    if (await host.isAllowed(endpointId)) return true;
    host.logger.warn?.(`Refused a connection from ${endpointId}: not in allowPeers`);
  } catch (err) {
    host.logger.error(`allowPeers failed for ${endpointId}, refusing: ${err instanceof Error ? err.message : String(err)}`);
  }
  return false;
}

/** Resets a stream the server will not serve (LIMIT_EXCEEDED on both halves). */
function refuseStream(bi: iroh.BiStream): void {
  const code = BigInt(ErrorCode.LIMIT_EXCEEDED);
  bi.recv.stop(code).catch(() => undefined);
  bi.send.reset(code).catch(() => undefined);
}
