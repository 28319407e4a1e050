import iroh = require('./binding');
import { fromBindingBytes, toBindingBytes, utf8Bytes } from './bytes';
import { IrohError } from './errors';
import type {
  ConnectionStats,
  EndpointConfig,
  IncomingAddr,
  IoBiStream,
  IoConnection,
  IoEndpoint,
  IoIncoming,
  IoRecvStream,
  IoSendStream,
  PathSnapshot,
  PeerAddress,
} from './io';
import { releaseNativeHandles } from './release';

/**
 * The binding on the calling thread, behind the {@link IoEndpoint} interfaces: bytes are
 * converted (bytes.ts) on this thread, each call is one binding call.
 */

/** Whether binding calls are counted on this thread (an I/O thread), and how many are under way. */
let tracking = false;
let inFlight = 0;
let idleWaiters: Array<() => void> = [];

/**
 * Counts the binding calls made on this thread from now on, for {@link whenBindingIdle}. An
 * I/O thread must not end while one is under way: the binding would answer into a thread
 * that is gone and take the process down. The main thread needs no count (nothing outlives
 * the process), so its calls go to the binding without one.
 */
export function trackBindingCalls(): void {
  tracking = true;
}

function tracked<T>(call: Promise<T>): Promise<T> {
  if (!tracking) return call;
  inFlight++;
  call.then(settled, settled);
  return call;
}

function settled(): void {
  if (--inFlight > 0 || idleWaiters.length === 0) return;
  const waiters = idleWaiters;
  idleWaiters = [];
  waiters.forEach(resolve => resolve());
}

/** Resolves once no counted binding call is under way on this thread. */
export function whenBindingIdle(): Promise<void> {
  if (inFlight === 0) return Promise.resolve();
  return new Promise(resolve => idleWaiters.push(resolve));
}

/** Binds an endpoint on the calling thread. */
export async function bindDirect(config: EndpointConfig): Promise<DirectEndpoint> {
  const builder = iroh.Endpoint.builder();
  if (config.relayMode === 'disabled') {
    // No relays and no address lookup: nothing tries to reach the internet.
    iroh.presetMinimal(builder);
  } else {
    iroh.presetN0(builder);
    if (config.relayMode === 'staging') builder.relayMode(iroh.RelayMode.staging());
    else if (Array.isArray(config.relayMode)) builder.relayMode(iroh.RelayMode.customFromUrls(config.relayMode));
  }
  builder.secretKey(toBindingBytes([config.secretKey], config.secretKey.length));
  if (config.acceptAlpn) builder.alpns([toBindingBytes([config.acceptAlpn], config.acceptAlpn.length)]);
  if (config.bindAddr !== undefined) {
    try {
      builder.bindAddr(config.bindAddr);
    } catch (err) {
      throw IrohError.from(`invalid bindAddr ${JSON.stringify(config.bindAddr)} (expected host:port)`, err);
    }
  }
  try {
    return new DirectEndpoint(await tracked(builder.bind()));
  } catch (err) {
    throw IrohError.from(`cannot bind iroh endpoint${config.bindAddr ? ` on ${config.bindAddr}` : ''}`, err);
  }
}

/** The binding's address object for a peer. */
export function endpointAddrOf(peer: PeerAddress): iroh.EndpointAddr {
  return new iroh.EndpointAddr(iroh.EndpointId.fromString(peer.id), peer.relayUrl, [...peer.directAddresses]);
}

export class DirectEndpoint implements IoEndpoint {
  readonly thread = 'main' as const;
  private readonly endpointId: string;
  private readonly sockets: string[];
  /** Dropped on close, so that nothing here keeps the endpoint (and its port) alive. */
  private native: iroh.Endpoint | null;

  constructor(native: iroh.Endpoint) {
    this.native = native;
    this.endpointId = native.id().toString();
    this.sockets = native.boundSockets();
  }

  id(): string {
    return this.endpointId;
  }

  ticket(): string {
    return iroh.EndpointTicket.fromAddr(this.open().addr()).toString();
  }

  boundSockets(): string[] {
    return [...this.sockets];
  }

  async acceptNext(): Promise<DirectIncoming | null> {
    const incoming = await tracked(this.open().acceptNext());
    return incoming ? new DirectIncoming(incoming) : null;
  }

  async connect(peer: PeerAddress, alpn: Uint8Array): Promise<DirectConnection> {
    const native = this.open();
    return new DirectConnection(await tracked(native.connect(endpointAddrOf(peer), toBindingBytes([alpn], alpn.length))));
  }

  close(): Promise<void> {
    const native = this.native;
    if (!native) return Promise.resolve();
    this.native = null;
    return tracked(native.close());
  }

  releasePort(sockets: readonly string[], deadlineMs?: number): Promise<boolean> {
    return releaseNativeHandles(sockets, deadlineMs);
  }

  unwrap(): iroh.Endpoint {
    return this.open();
  }

  private open(): iroh.Endpoint {
    if (!this.native) throw new IrohError('the iroh endpoint is closed');
    return this.native;
  }
}

export class DirectIncoming implements IoIncoming {
  constructor(private readonly native: iroh.Incoming) {}

  remoteAddr(): Promise<IncomingAddr> {
    return tracked(this.native.remoteAddr());
  }

  async accept(): Promise<DirectConnection> {
    return new DirectConnection(await tracked(this.native.accept().then(accepting => accepting.connect())));
  }

  refuse(): Promise<void> {
    return tracked(this.native.refuse());
  }

  remoteAddrValidated(): Promise<boolean> {
    return tracked(this.native.remoteAddrValidated());
  }

  retry(): Promise<void> {
    return tracked(this.native.retry());
  }
}

export class DirectConnection implements IoConnection {
  private id: string | null = null;

  constructor(private readonly native: iroh.Connection) {}

  remoteId(): string {
    return (this.id ??= this.native.remoteId().toString());
  }

  async openBi(): Promise<DirectBiStream> {
    return directBiStream(await tracked(this.native.openBi()));
  }

  async acceptBi(): Promise<DirectBiStream> {
    return directBiStream(await tracked(this.native.acceptBi()));
  }

  closed(): Promise<string> {
    return tracked(this.native.closed());
  }

  close(code: number, reason: string): void {
    try {
      const bytes = utf8Bytes(reason);
      this.native.close(BigInt(code), bytes.length > 256 ? bytes.slice(0, 256) : bytes);
    } catch {
      // Already closed.
    }
  }

  setMaxConcurrentBiStreams(count: number): void {
    this.native.setMaxConcurrentBiStreams(BigInt(count));
  }

  stats(): ConnectionStats {
    return this.native.stats();
  }

  paths(): PathSnapshot[] {
    return this.native.paths();
  }

  rtt(): number | null {
    return this.native.rtt();
  }

  freshStats(): Promise<ConnectionStats> {
    return Promise.resolve(this.native.stats());
  }
}

export interface DirectBiStream extends IoBiStream {
  readonly send: DirectSendStream;
  readonly recv: DirectRecvStream;
}

function directBiStream(bi: iroh.BiStream): DirectBiStream {
  return { send: new DirectSendStream(bi.send), recv: new DirectRecvStream(bi.recv) };
}

export class DirectSendStream implements IoSendStream {
  constructor(private readonly native: iroh.SendStream) {}

  write(parts: readonly Uint8Array[], totalLength: number): Promise<void> {
    return tracked(this.native.writeAll(toBindingBytes(parts, totalLength)));
  }

  finish(): Promise<void> {
    return tracked(this.native.finish());
  }

  stopped(): Promise<number | null> {
    return tracked(this.native.stopped());
  }

  reset(code: number): Promise<void> {
    return tracked(this.native.reset(BigInt(code)));
  }
}

export class DirectRecvStream implements IoRecvStream {
  constructor(private readonly native: iroh.RecvStream) {}

  async read(maxBytes: number): Promise<Buffer> {
    return fromBindingBytes(await tracked(this.native.read(maxBytes)));
  }

  stop(code: number): Promise<void> {
    return tracked(this.native.stop(BigInt(code)));
  }
}
