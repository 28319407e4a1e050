import iroh = require('./binding');
import { IrohError, bindingErrorMessage } from './errors';
import { SecretKeySource, resolveSecretKey } from './keys';
import { toBindingBytes, utf8Bytes } from './bytes';
import { bindDirect } from './direct-io';
import type { EndpointConfig, IoEndpoint } from './io';
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
   * Runs the endpoint in a worker thread of its own (the I/O thread): the binding's calls and
   * its conversion of every byte happen there, and this thread exchanges transferred buffers
   * with it. Costs a thread, and a hop between threads each way; spares this thread most of
   * the work of sending and receiving (docs/performance.md says when that pays). Default false.
   */
  ioThread?: boolean;
}

export function validateRelayMode(mode: unknown): RelayModeOption {
  if (mode === undefined) return 'default';
  if (mode === 'default' || mode === 'staging' || mode === 'disabled') return mode;
  if (Array.isArray(mode) && mode.length > 0 && mode.every(u => typeof u === 'string' && /^https?:\/\//.test(u))) {
    return mode as string[];
  }
  throw new IrohError(
    `relayMode must be 'default', 'staging', 'disabled' or a non-empty list of relay URLs (http:// or https://)`,
  );
}

export function alpnBytes(alpn: string | undefined): number[] {
  const name = alpn ?? DEFAULT_ALPN;
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 255) {
    throw new IrohError('alpn must be a non-empty string of at most 255 bytes');
  }
  return utf8Bytes(name);
}

/**
 * Binds an iroh endpoint. `acceptAlpn` makes it accept incoming connections for that ALPN
 * (servers); clients bind without one and only dial out.
 */
export async function bindEndpoint(options: IrohEndpointOptions, acceptAlpn?: number[]): Promise<iroh.Endpoint> {
  const relayMode = validateRelayMode(options.relayMode);
  const secretKey = resolveSecretKey(options);
  const builder = iroh.Endpoint.builder();
  if (relayMode === 'disabled') {
    // No relays and no address lookup: nothing tries to reach the internet.
    iroh.presetMinimal(builder);
  } else {
    iroh.presetN0(builder);
    if (relayMode === 'staging') builder.relayMode(iroh.RelayMode.staging());
    else if (Array.isArray(relayMode)) builder.relayMode(iroh.RelayMode.customFromUrls(relayMode));
  }
  builder.secretKey(toBindingBytes([secretKey], secretKey.length));
  if (acceptAlpn) builder.alpns([acceptAlpn]);
  if (options.bindAddr !== undefined) {
    try {
      builder.bindAddr(options.bindAddr);
    } catch (err) {
      throw IrohError.from(`invalid bindAddr ${JSON.stringify(options.bindAddr)} (expected host:port)`, err);
    }
  }
  try {
    return await builder.bind();
  } catch (err) {
    throw IrohError.from(`cannot bind iroh endpoint${options.bindAddr ? ` on ${options.bindAddr}` : ''}`, err);
  }
}

/**
 * Binds an endpoint, on this thread or in an I/O thread of its own (`ioThread`). `acceptAlpn`
 * makes it accept incoming connections for that ALPN (servers); clients bind without one and
 * only dial out.
 */
export async function openEndpoint(options: IrohEndpointOptions, acceptAlpn?: Uint8Array | readonly number[]): Promise<IoEndpoint> {
  if (options.ioThread !== undefined && typeof options.ioThread !== 'boolean') {
    throw new IrohError('ioThread must be true or false');
  }
  const config: EndpointConfig = {
    relayMode: validateRelayMode(options.relayMode),
    secretKey: resolveSecretKey(options),
    bindAddr: options.bindAddr,
    acceptAlpn: acceptAlpn ? Uint8Array.from(acceptAlpn) : undefined,
  };
  return options.ioThread ? bindWorker(config) : bindDirect(config);
}

/** Closes a connection with an application error code and a short reason. */
export function closeConnection(connection: iroh.Connection, code: number, reason: string): void {
  try {
    const bytes = utf8Bytes(reason);
    connection.close(BigInt(code), bytes.length > 256 ? bytes.slice(0, 256) : bytes);
  } catch {
    // Already closed.
  }
}

/** Dials `addr`, giving up after `timeoutMs`. */
export async function connectWithTimeout(
  endpoint: iroh.Endpoint,
  addr: iroh.EndpointAddr,
  alpn: number[],
  timeoutMs: number,
): Promise<iroh.Connection> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new IrohError(`connecting to ${addr.id().toString()} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const attempt = endpoint.connect(addr, alpn).then(
    connection => {
      // A handshake that finishes after we gave up is not wanted by anyone.
      if (timedOut) closeConnection(connection, 0, 'connect timed out');
      return connection;
    },
    err => {
      throw IrohError.from(`cannot connect to ${addr.id().toString()}`, err);
    },
  );
  attempt.catch(() => undefined);
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes the endpoint that `take` hands over (the owner clears its own reference in it) and
 * returns the addresses it was bound to, or null when there was none. The endpoint lives
 * only in this function's frame, so once it returns nothing of the caller's references
 * the endpoint and `releaseNativeHandles` can free its port.
 */
export async function closeEndpoint(
  take: () => iroh.Endpoint | null,
  warn: (message: string) => void,
): Promise<string[] | null> {
  const endpoint = take();
  if (!endpoint) return null;
  const sockets = endpoint.boundSockets();
  try {
    await endpoint.close();
  } catch (err) {
    warn(`Closing the iroh endpoint failed: ${bindingErrorMessage(err)}`);
  }
  return sockets;
}
