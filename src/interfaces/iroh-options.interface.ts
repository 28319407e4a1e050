import type { Deserializer, Serializer } from '@nestjs/microservices';
import type { IrohEndpointOptions } from '../iroh/endpoint';

/**
 * Which peers may connect: a list of endpoint ids, or a function (sync or async) asked on
 * every new connection, so a service can consult its own registry.
 */
export type AllowPeersOption = readonly string[] | ((endpointId: string) => boolean | Promise<boolean>);

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
  /**
   * Endpoint ids allowed to connect, or a function asked for each new connection (it may
   * be async). Others are refused at connection time (close code UNAUTHORIZED). Default:
   * everyone who knows the ticket or id.
   */
  allowPeers?: AllowPeersOption;
  /**
   * Milliseconds an `allowPeers` function may take to answer before the peer is refused
   * (default 10 000; 0: no limit). Until it answers, the connection counts against
   * `maxConnections` among the handshakes under way.
   */
  allowPeersTimeout?: number;
  /** Connections served at once; further ones are refused (default 10 000). */
  maxConnections?: number;
  /** Streams a client may open at once on one connection (default 16). */
  maxStreamsPerConnection?: number;
  /** Requests in flight on one connection; further ones fail with LIMIT_EXCEEDED (default 1024). */
  maxConcurrentRequests?: number;
  /** Requests in flight from one peer over all its connections (default 4096). */
  maxConcurrentRequestsPerPeer?: number;
  /**
   * Event handlers running at once for one connection, each counted until its Promise or
   * Observable settles (default 1024). A further event waits, and the stream it came on
   * reads nothing more until it has started (QUIC flow control then holds the sender back).
   * Events waiting count against `maxReceiveMemory`; one that does not fit is dropped with a
   * warning (at most one line per 10 s).
   */
  maxConcurrentEvents?: number;
  /** Event handlers running at once for one peer over all its connections (default 4096). */
  maxConcurrentEventsPerPeer?: number;
  /**
   * Bytes the server may hold, across all connections, for messages received and not yet
   * handed to a handler: partly received frames (counted at their announced length from
   * their header), inflated payloads and frames waiting their turn (default 256 MiB). A frame or payload
   * that does not fit is refused with LIMIT_EXCEEDED, after closing connections whose partly
   * received frames cannot complete within `incompleteFrameTimeout` at the rate they arrive.
   */
  maxReceiveMemory?: number;
  /**
   * Bytes per second one peer may make the server inflate (decompress), with bursts of up to
   * a second's worth or two maximum-size messages (default 64 MiB). Past it, inflation for
   * that peer pauses until it is within its rate again, and the streams waiting on it read
   * nothing more meanwhile.
   */
  maxInflateRatePerPeer?: number;
  /**
   * New connections per second accepted from one source address (IP; for relayed
   * connections the endpoint id the relay names), with bursts of twice that, checked before
   * the handshake: others are refused at once (default 100; 0 turns the limit off).
   */
  maxConnectionRatePerAddress?: number;
  /**
   * Handshakes under way above which a connection from a source address the client has not
   * proved is answered with a QUIC Retry (default 64). The client comes back with the Retry's
   * token from the same address (a new client's first reply took ≈38 ms instead of ≈6 ms on
   * loopback); Initial packets with a forged source never do, so they cannot hold more than
   * this many handshakes (each counts against `maxConnections` until it completes or QUIC
   * gives up on it). 0: every client proves its address; `maxConnections` or more: never.
   */
  retryHandshakesAbove?: number;
  /** Longest pattern accepted, in bytes (default 1024). */
  maxPatternLength?: number;
  /**
   * Milliseconds a frame may take to arrive, counted from its first byte, before the
   * connection is closed as a protocol error (default 30 000): a peer trickling a frame byte
   * by byte is cut as one that stopped sending.
   */
  incompleteFrameTimeout?: number;
  /**
   * Bytes of replies queued for one client stream (it reads slower than handlers answer).
   * A streamed reply that would go past it fails with LIMIT_EXCEEDED and its handler is
   * unsubscribed, and the stream's further requests wait (unread) until the client has taken
   * half of it, so a slow client cannot make the server's memory grow (default 8 MiB).
   */
  maxPendingReplyBytes?: number;
  /**
   * Milliseconds without any frame from a client stream after which its connection is
   * closed and its handlers cancelled (default 0: off, leaving it to QUIC's idle timeout of
   * about 30 s). ClientIroh pings every `keepAliveInterval` (2 s), so a few times that is safe
   * for its clients; clients with keep-alive off would be cut while idle.
   */
  idleTimeout?: number;
  /**
   * Milliseconds a client may leave replies unread (its QUIC flow-control window full, our
   * queue not moving) before its connection is closed with LIMIT_EXCEEDED, reason "replies
   * unread" (default 30 000). While it does not read, the server also stops reading from it
   * (backpressure), so this is what frees what such a client holds.
   */
  writeStallTimeout?: number;
  /** Serializes outgoing responses (default: the transport's own compact encoding). */
  serializer?: Serializer;
  /** Deserializes incoming requests and events (default: the transport's own encoding). */
  deserializer?: Deserializer;
}

/** Options of {@link ClientIroh}. */
export interface ClientIrohOptions extends IrohEndpointOptions, IrohProtocolOptions {
  /**
   * The server: its endpoint ticket (`endpoint…`), or its endpoint id when discovery can find
   * it. Give `peer` for one server, `peers` for several.
   */
  peer?: string;
  /**
   * Several servers of one service (tickets or endpoint ids). The client keeps a connection
   * to each and sends every request to the ready one with the fewest requests in flight; a
   * server that is lost or shutting down is left out until it is back.
   */
  peers?: readonly string[];
  /**
   * Milliseconds a request may take from subscribe to its last reply, waiting for a
   * connection included, as a gRPC deadline (default: none). Servers that support it learn
   * the time left (`IrohContext#getDeadline()`) and stop the handler at it.
   */
  timeout?: number;
  /**
   * Milliseconds for one connection attempt: handshake and HELLO (default 5000). A request
   * that finds no peer ready fails with CONNECT_FAILED once each peer it could use has failed
   * an attempt begun since it was sent.
   */
  connectTimeout?: number;
  /**
   * Connection attempts made in the background, with backoff, after a peer was lost or an
   * attempt failed (default: unlimited). Once they are used up the peer is dialled again only
   * when a request or `connect()` needs it; 0 dials only then.
   */
  retryAttempts?: number;
  /** Milliseconds before the first background attempt after another, doubled each time (default 100). */
  retryDelay?: number;
  /**
   * Longest delay between background attempts in milliseconds (default 1000). A handshake
   * begun while the peer was down waits for QUIC's retransmission timer, so a peer that comes
   * back is found within about this long.
   */
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
