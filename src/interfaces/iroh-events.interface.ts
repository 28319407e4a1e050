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
  /** Client: the connection to the peer is up. */
  CONNECT = 'connect',
  /** Client: the connection to the peer was lost or closed. */
  DISCONNECT = 'disconnect',
  /** Server: the endpoint is bound and accepting. */
  LISTENING = 'listening',
  /** Server: a peer connected; the callback gets its endpoint id. */
  PEER_CONNECT = 'peer:connect',
  /** Server: a peer's connection ended; the callback gets its endpoint id and the reason. */
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
