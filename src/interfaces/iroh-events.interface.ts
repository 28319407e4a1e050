/** Status values of {@link IrohServer} and {@link ClientIroh}, as `TcpStatus` has them. */
export enum IrohStatus {
  DISCONNECTED = 'disconnected',
  CONNECTING = 'connecting',
  CONNECTED = 'connected',
  /** Client: connecting again after the connection was lost. */
  RECONNECTING = 'reconnecting',
}

/** Events of {@link IrohServer} and {@link ClientIroh}, for `on()`. */
export enum IrohEventsMap {
  /** Client: a first peer is ready (with several peers: the client went from none ready to one). */
  CONNECT = 'connect',
  /** Client: no peer is ready any more (connection lost, or the server is going away). */
  DISCONNECT = 'disconnect',
  /** Server: the endpoint is bound and accepting. */
  LISTENING = 'listening',
  /**
   * Server: a peer connected. Client: a peer became ready (connected, HELLO answered). The
   * callback gets its endpoint id.
   */
  PEER_CONNECT = 'peer:connect',
  /**
   * Server: a peer's connection ended. Client: a peer stopped taking requests (its
   * connection was lost, or its server is shutting down). The callback gets its endpoint id
   * and the reason.
   */
  PEER_DISCONNECT = 'peer:disconnect',
  /** Either: a transport error (the callback gets the Error). */
  ERROR = 'error',
  /** Either: closed by `close()`. */
  CLOSE = 'close',
}

/** One connection a server serves, as `IrohServer#connections` lists it. */
export interface IrohConnectionInfo {
  /** The client's endpoint id. */
  endpointId: string;
  /** Streams the client has open on the connection. */
  streams: number;
  /** Requests in flight on those streams. */
  inflightRequests: number;
}

export type IrohEvents = {
  connect: () => void;
  disconnect: (reason: string) => void;
  listening: () => void;
  'peer:connect': (endpointId: string) => void;
  'peer:disconnect': (endpointId: string, reason: string) => void;
  error: (error: Error) => void;
  close: () => void;
};
