import { IrohError, bindingErrorMessage } from './errors';
import { SecretKeySource, resolveSecretKey } from './keys';
import { bindDirect } from './direct-io';
import type { EndpointConfig, IoConnection, IoEndpoint, PeerAddress } from './io';
import { withinTime } from './time-limit';
import { bindWorker } from './worker-io';

/**
 * Relays and discovery: `'default'` uses n0's relays and address lookup, `'staging'` n0's
 * staging relays, `'disabled'` neither (peers are then reached by the direct addresses in
 * their tickets: loopback, LAN, or open ports), and a list of URLs uses those relays.
 */
export type RelayModeOption = 'default' | 'staging' | 'disabled' | string[];

/** ALPN of the nestjs-iroh protocol; the trailing number is the wire protocol's major version. */
export const DEFAULT_ALPN = 'nestjs-iroh/1';

/** How long to wait for a QUIC handshake before giving up (iroh's own limit is 30 s). */
export const DEFAULT_CONNECT_TIMEOUT = 5000;

/** Options every nestjs-iroh endpoint takes, server or client. */
export interface IrohEndpointOptions extends SecretKeySource {
  /** `host:port` to bind the UDP socket to. Default: all interfaces, any free port. */
  bindAddr?: string;
  /** Default `'default'`. */
  relayMode?: RelayModeOption;
  /** Application protocol name both sides must agree on. Default {@link DEFAULT_ALPN}. */
  alpn?: string;
  /**
   * After `close()`, force garbage collections until the UDP port can be bound again (the
   * binding frees it only when its objects are collected; see src/iroh/release.ts). Default:
   * true when `bindAddr` names a fixed port, false otherwise.
   */
  releasePortOnClose?: boolean;
  /**
   * Runs the endpoint in a worker thread (the I/O thread, one per JavaScript thread, shared by
   * its endpoints): the binding's calls and its conversion of every byte happen there, and this
   * thread exchanges transferred buffers with it. Costs a thread and a hop between threads each
   * way; spares this thread most of the work of sending and receiving (docs/performance.md says
   * when that pays). `unwrap()` then returns the endpoint's stand-in, not the binding's
   * `Endpoint`. Default false.
   */
  ioThread?: boolean;
}

export function validateRelayMode(mode: unknown): RelayModeOption {
  if (mode === undefined) return 'default';
  if (mode === 'default' || mode === 'staging' || mode === 'disabled') return mode;
  if (Array.isArray(mode) && mode.length > 0 && mode.every(u => typeof u === 'string' && /^https?:\/\//.test(u))) {
    return mode as string[];
  }
  throw new IrohError(`relayMode must be 'default', 'staging', 'disabled' or a non-empty list of relay URLs (http:// or https://)`);
}

export function alpnBytes(alpn: string | undefined): Buffer {
  const name = alpn ?? DEFAULT_ALPN;
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 255) {
    throw new IrohError('alpn must be a non-empty string of at most 255 bytes');
  }
  return Buffer.from(name, 'utf8');
}

/**
 * Binds an endpoint, on this thread or in an I/O thread of its own (`ioThread`). `acceptAlpn`
 * makes it accept incoming connections for that ALPN (servers); clients bind without one and
 * only dial out.
 */
export async function bindEndpoint(options: IrohEndpointOptions, acceptAlpn?: Uint8Array): Promise<IoEndpoint> {
  if (options.ioThread !== undefined && typeof options.ioThread !== 'boolean') {
    throw new IrohError('ioThread must be true or false');
  }
  const config: EndpointConfig = {
    relayMode: validateRelayMode(options.relayMode),
    secretKey: resolveSecretKey(options),
    bindAddr: options.bindAddr,
    acceptAlpn,
  };
  return options.ioThread ? bindWorker(config) : bindDirect(config);
}

/** Closes a connection with an application error code and a short reason. */
export function closeConnection(connection: IoConnection, code: number, reason: string): void {
  connection.close(code, reason);
}

/** Dials `peer`, giving up after `timeoutMs`. */
export async function connectWithTimeout(
  endpoint: IoEndpoint,
  peer: PeerAddress,
  alpn: Uint8Array,
  timeoutMs: number,
): Promise<IoConnection> {
  let timedOut = false;
  const attempt = endpoint.connect(peer, alpn).then(
    connection => {
      // A handshake that finishes after we gave up is not wanted by anyone.
      if (timedOut) closeConnection(connection, 0, 'connect timed out');
      return connection;
    },
    err => {
      throw IrohError.from(`cannot connect to ${peer.id}`, err);
    },
  );
  attempt.catch(() => undefined);
  return withinTime(attempt, timeoutMs, () => {
    timedOut = true;
    return new IrohError(`connecting to ${peer.id} timed out after ${timeoutMs} ms`);
  });
}

/** What closing an endpoint leaves: the addresses it was bound to, and the wait until they are free. */
export interface ClosedEndpoint {
  readonly sockets: readonly string[];
  /** Resolves true once the sockets can be bound again (false after `deadlineMs`). */
  releasePort(deadlineMs?: number): Promise<boolean>;
}

/**
 * Closes the endpoint that `take` hands over (the owner clears its own reference in it), or
 * returns null when there was none. Once closed, the endpoint object no longer holds the
 * binding's: only connections still referenced elsewhere keep the port.
 */
export async function closeEndpoint(take: () => IoEndpoint | null, warn: (message: string) => void): Promise<ClosedEndpoint | null> {
  const endpoint = take();
  if (!endpoint) return null;
  const sockets = endpoint.boundSockets();
  try {
    await endpoint.close();
  } catch (err) {
    warn(`Closing the iroh endpoint failed: ${bindingErrorMessage(err)}`);
  }
  return { sockets, releasePort: deadlineMs => endpoint.releasePort(sockets, deadlineMs) };
}
