import type { LoggerService } from '@nestjs/common';
import { IoBiStream, IoConnection, IoEndpoint, IoIncoming, bindingErrorMessage, closeConnection } from '../iroh';
import { ErrorCode } from '../protocol';
import { ConnectionRateLimit } from './connection-rate';
import { ConnectionRegistry, PeerConnection } from './connection-registry';
import type { ConnectionBudget } from './receive-pool';
import type { ServerChannel } from './server-channel';
import type { ServerLimits } from './server-limits';
import { ThrottledWarning } from './throttled-warning';

/** What accepting connections needs from the server. */
export interface AcceptHost {
  readonly logger: LoggerService;
  readonly limits: Pick<
    ServerLimits,
    'maxConnections' | 'maxStreamsPerConnection' | 'maxConnectionRatePerAddress' | 'retryHandshakesAbove'
  >;
  readonly registry: ConnectionRegistry;
  /** True once the server is shutting down: new connections are refused. */
  readonly closing: boolean;
  /** Whether `endpointId` may connect (allowPeers). */
  isAllowed(endpointId: string): Promise<boolean>;
  /** A share of the receive memory for a new connection; `evict` closes it when the pool needs the memory back. */
  connectionBudget(evict: (reason: string) => void): ConnectionBudget;
  /** A channel for a stream the peer opened; the host starts it. */
  openChannel(bi: IoBiStream, peer: PeerConnection): ServerChannel;
  peerConnected(peer: PeerConnection): void;
  peerClosed(peer: PeerConnection, reason: string): void;
}

/** The warnings a stream of refused connections writes, each at most once per interval. */
interface RefusalWarnings {
  full: ThrottledWarning;
  rate: ThrottledWarning;
  notAllowed: ThrottledWarning;
  retried: ThrottledWarning;
}

/**
 * Accepts connections until the endpoint closes: refuses them past `maxConnections`, past
 * `maxConnectionRatePerAddress` for their source or while shutting down (all before the
 * handshake, which is what a refusal costs least at), answers with a QUIC Retry those whose
 * source address is not proved while more than `retryHandshakesAbove` handshakes are under
 * way, authorizes each peer (allowPeers) once its handshake has told who it is, and accepts
 * the streams it opens up to `maxStreamsPerConnection`. Refusals and Retries are logged at
 * most once per 10 s, with a count.
 */
export async function acceptConnections(endpoint: IoEndpoint, host: AcceptHost): Promise<void> {
  const { maxConnections, maxConnectionRatePerAddress, retryHandshakesAbove } = host.limits;
  const rate = maxConnectionRatePerAddress > 0 ? new ConnectionRateLimit(maxConnectionRatePerAddress) : null;
  const warnings: RefusalWarnings = {
    full: new ThrottledWarning(host.logger, `connections refused (maxConnections ${maxConnections})`),
    rate: new ThrottledWarning(host.logger, `connections refused (maxConnectionRatePerAddress ${maxConnectionRatePerAddress})`),
    notAllowed: new ThrottledWarning(host.logger, 'connections refused (not in allowPeers)'),
    retried: new ThrottledWarning(host.logger, `connections answered with a QUIC Retry (retryHandshakesAbove ${retryHandshakesAbove})`),
  };
  try {
    for (;;) {
      let incoming: IoIncoming | null;
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
      if (host.registry.size >= maxConnections) {
        warnings.full.warn(`Refused a connection: ${maxConnections} connections already (maxConnections)`);
        incoming.refuse().catch(() => undefined);
        continue;
      }
      // Many handshakes under way: make each new client prove its source address first, so
      // that Initial packets with forged sources cannot hold handshakes (the Retry is stateless).
      if (host.registry.handshakesUnderWay >= retryHandshakesAbove && !(await isValidated(incoming))) {
        warnings.retried.warn(
          `Answered a connection with a QUIC Retry: ${host.registry.handshakesUnderWay} handshakes under way (retryHandshakesAbove ${retryHandshakesAbove})`,
        );
        incoming.retry().catch(() => undefined);
        continue;
      }
      const handshakeDone = host.registry.handshakeStarted();
      void admit(incoming, host, rate, warnings, handshakeDone).finally(handshakeDone);
    }
  } finally {
    warnings.full.flush();
    warnings.rate.flush();
    warnings.notAllowed.flush();
    warnings.retried.flush();
  }
}

/** Whether the client proved its source address; a failed check (the attempt is gone) counts as not. */
async function isValidated(incoming: IoIncoming): Promise<boolean> {
  try {
    return await incoming.remoteAddrValidated();
  } catch {
    return false;
  }
}

/** Checks the source's connection rate, then accepts and serves the connection. */
async function admit(
  incoming: IoIncoming,
  host: AcceptHost,
  rate: ConnectionRateLimit | null,
  warnings: RefusalWarnings,
  handshakeDone: () => void,
): Promise<void> {
  if (rate) {
    const { source, allowed } = await rate.check(incoming);
    if (!allowed) {
      warnings.rate.warn(
        `Refused a connection from ${source}: more than ${host.limits.maxConnectionRatePerAddress} per second (maxConnectionRatePerAddress)`,
      );
      incoming.refuse().catch(() => undefined);
      return;
    }
  }
  await acceptConnection(incoming, host, warnings, handshakeDone);
}

/** Accepts and serves one connection; `handshakeDone` is called once it counts as a peer. */
async function acceptConnection(
  incoming: IoIncoming,
  host: AcceptHost,
  warnings: RefusalWarnings,
  handshakeDone: () => void,
): Promise<void> {
  let connection: IoConnection;
  try {
    connection = await incoming.accept();
  } catch (err) {
    host.logger.debug?.(`Incoming connection failed: ${bindingErrorMessage(err)}`);
    return;
  }
  if (host.closing) {
    closeConnection(connection, ErrorCode.GOING_AWAY, 'server shutting down');
    return;
  }
  const remoteEndpointId = connection.remoteId();
  if (!(await authorize(host, remoteEndpointId, warnings.notAllowed))) {
    closeConnection(connection, ErrorCode.UNAUTHORIZED, 'peer not allowed');
    return;
  }
  try {
    connection.setMaxConcurrentBiStreams(host.limits.maxStreamsPerConnection);
  } catch {
    // The connection is already closed; the stream loop below ends at once.
  }
  const budget = host.connectionBudget(reason => {
    host.logger.warn?.(`Closing the connection of ${remoteEndpointId}: ${reason}`);
    for (const channel of peer.channels) channel.close();
    closeConnection(connection, ErrorCode.LIMIT_EXCEEDED, reason);
  });
  const peer = host.registry.add(connection, remoteEndpointId, budget);
  handshakeDone();
  host.peerConnected(peer);
  connection.closed().then(
    reason => host.peerClosed(peer, reason),
    err => host.peerClosed(peer, bindingErrorMessage(err)),
  );
  for (;;) {
    let bi: IoBiStream;
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

async function authorize(host: AcceptHost, endpointId: string, notAllowed: ThrottledWarning): Promise<boolean> {
  try {
    if (await host.isAllowed(endpointId)) return true;
    notAllowed.warn(`Refused a connection from ${endpointId}: not in allowPeers`);
  } catch (err) {
    host.logger.error(`allowPeers failed for ${endpointId}, refusing: ${err instanceof Error ? err.message : String(err)}`);
  }
  return false;
}

/** Resets a stream the server will not serve (LIMIT_EXCEEDED on both halves). */
function refuseStream(bi: IoBiStream): void {
  const code = ErrorCode.LIMIT_EXCEEDED;
  bi.recv.stop(code).catch(() => undefined);
  bi.send.reset(code).catch(() => undefined);
}
