import type { Deserializer, Serializer } from '@nestjs/microservices';
import type { IrohEndpointOptions } from '../iroh/endpoint';

/** Protocol options both sides take. */
export interface IrohProtocolOptions {
  /**
   * Largest message accepted or sent, in bytes (default 16 MiB). A larger message is refused
   * with a clear error on both sides, judged by its length header before it is read.
   */
  maxMessageSize?: number;
  /**
   * Messages of at least this many bytes are DEFLATE-compressed when that makes them
   * smaller (default 1024; 0 turns compression off).
   */
  compressionThreshold?: number;
}

/** Options of {@link IrohServer}. */
export interface IrohServerOptions extends IrohEndpointOptions, IrohProtocolOptions {
  /**
   * Milliseconds `close()` lets requests in flight finish before closing connections
   * (default 5000). Requests arriving meanwhile fail with a GOING_AWAY error.
   */
  drainTimeout?: number;
  /** Serializes outgoing responses (default: the transport's own compact encoding). */
  serializer?: Serializer;
  /** Deserializes incoming requests and events (default: the transport's own encoding). */
  deserializer?: Deserializer;
}

/** Options of {@link ClientIroh}. */
export interface ClientIrohOptions extends IrohEndpointOptions, IrohProtocolOptions {
  /** The server: its endpoint ticket (`endpoint…`), or its endpoint id when discovery can find it. */
  peer: string;
  /** Milliseconds after which a request without a reply errors (default: none). */
  timeout?: number;
  /** Milliseconds to wait for one connection attempt (default 5000). */
  connectTimeout?: number;
  /** Further connection attempts after a failed one, with exponential backoff and jitter (default 2). */
  retryAttempts?: number;
  /** Delay before the first retry in milliseconds, doubled each time (default 200). */
  retryDelay?: number;
  /** Longest delay between attempts in milliseconds (default 5000). */
  maxRetryDelay?: number;
  /** Milliseconds between keep-alive PINGs (default 2000; 0 turns keep-alive off). */
  keepAliveInterval?: number;
  /**
   * Milliseconds without any frame from the server after which the connection counts as
   * lost and its requests fail (default 6000).
   */
  keepAliveTimeout?: number;
  /** Serializes outgoing requests and events (default: the transport's own compact encoding). */
  serializer?: Serializer;
  /** Deserializes incoming responses (default: the transport's own encoding). */
  deserializer?: Deserializer;
}
