import type { ConnectionStats, IncomingAddr, PathSnapshot } from '@number0/iroh/index.js';

export type { ConnectionStats, IncomingAddr, PathSnapshot };

/**
 * The endpoint, connections and streams as the rest of nestjs-iroh uses them: Node buffers in
 * and out, plain values for ids and addresses. Two implementations stand behind it: the
 * binding on the calling thread (`direct-io.ts`, which converts bytes there), and the binding
 * in a worker thread of its own (`worker-io.ts`, the `ioThread` option), which converts bytes
 * there and exchanges transferred ArrayBuffers with the calling thread.
 */

/** A peer to dial: its endpoint id and where it may be reached (a ticket's contents). */
export interface PeerAddress {
  /** Endpoint id, 64 hex characters. */
  readonly id: string;
  readonly relayUrl: string | null;
  readonly directAddresses: readonly string[];
}

/** Which thread the binding runs on. */
export type IoThreadKind = 'main' | 'worker';

export interface IoEndpoint {
  readonly thread: IoThreadKind;
  /** The endpoint id (hex public key). */
  id(): string;
  /** An endpoint ticket: id, direct addresses and relay, as they are now. */
  ticket(): string;
  /** The local socket addresses the endpoint is bound to. */
  boundSockets(): string[];
  /** The next incoming connection attempt, or null once the endpoint is closed. */
  acceptNext(): Promise<IoIncoming | null>;
  /** Dials `peer` for the application protocol `alpn`. */
  connect(peer: PeerAddress, alpn: Uint8Array): Promise<IoConnection>;
  /** Closes the endpoint (idempotent). */
  close(): Promise<void>;
  /**
   * After {@link close}: resolves true once `sockets` can be bound again, false after
   * `deadlineMs`. The binding frees its sockets only when its objects are dropped: on the
   * calling thread that takes forced collections (release.ts); an I/O thread is ended instead.
   */
  releasePort(sockets: readonly string[], deadlineMs?: number): Promise<boolean>;
  /** What `unwrap()` hands to users: the binding's `Endpoint`, or this object when it lives in a worker. */
  unwrap(): unknown;
}

/** A connection attempt received, before its handshake. */
export interface IoIncoming {
  /** Where the first packet came from (not validated). */
  remoteAddr(): Promise<IncomingAddr>;
  /** Accepts and completes the handshake. */
  accept(): Promise<IoConnection>;
  refuse(): Promise<void>;
  /** True when the client has proved it receives at its source address (it came back after a QUIC Retry). */
  remoteAddrValidated(): Promise<boolean>;
  /**
   * Answers with a QUIC Retry instead of accepting: the server keeps no state, and a client
   * that receives at its source address comes back with the token; a forged source never does.
   */
  retry(): Promise<void>;
}

export interface IoConnection {
  /** The peer's endpoint id (hex), authenticated by the handshake. */
  remoteId(): string;
  openBi(): Promise<IoBiStream>;
  acceptBi(): Promise<IoBiStream>;
  /** Resolves with the reason once the connection has closed, for whatever cause. */
  closed(): Promise<string>;
  /** Closes with an application error code and a reason (cut to 256 bytes); nothing when already closed. */
  close(code: number, reason: string): void;
  setMaxConcurrentBiStreams(count: number): void;
  /**
   * Counters, paths and round-trip time. Read without waiting: with an I/O thread they are
   * the values of the last reading, and each call asks for a fresh one.
   */
  stats(): ConnectionStats;
  paths(): PathSnapshot[];
  rtt(): number | null;
  /** The counters as they are now (with an I/O thread: asked of it). */
  freshStats(): Promise<ConnectionStats>;
}

export interface IoBiStream {
  readonly send: IoSendStream;
  readonly recv: IoRecvStream;
}

export interface IoSendStream {
  /**
   * Writes `parts` (of `totalLength` bytes in all) as one write. Resolves once the bytes are
   * handed to the connection. One write at a time: call again once it resolved.
   */
  write(parts: readonly Uint8Array[], totalLength: number): Promise<void>;
  /** Finishes the sending side once what was written is sent. */
  finish(): Promise<void>;
  /**
   * Resolves once the peer has acknowledged everything up to our finish (null), or stopped
   * the stream (its code). Called after finish(): the binding deadlocks when it races a write.
   */
  stopped(): Promise<number | null>;
  reset(code: number): Promise<void>;
}

export interface IoRecvStream {
  /** At most `maxBytes` bytes; an empty buffer at the end of the stream. */
  read(maxBytes: number): Promise<Buffer>;
  /** Stops receiving: the peer's writes fail with `code`. */
  stop(code: number): Promise<void>;
}

/** What binding an endpoint takes once the options are checked and the key resolved. */
export interface EndpointConfig {
  /** The secret key, 32 bytes. */
  secretKey: Uint8Array;
  relayMode: 'default' | 'staging' | 'disabled' | string[];
  bindAddr?: string;
  /** Incoming connections are accepted for this ALPN; clients bind without one. */
  acceptAlpn?: Uint8Array;
}
