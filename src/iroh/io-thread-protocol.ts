import type { ConnectionStats, PathSnapshot } from './io';
import { IrohError } from './errors';

/**
 * The messages between the calling thread and its I/O thread (io-thread-link.ts, io-worker.ts).
 *
 * Each side sends its messages in batches, one `postMessage` per turn of its event loop: an
 * array of tuples. The calling thread sends operations, `[op, callId, handle, a, b]`; callId
 * 0 asks for no answer. The I/O thread answers `[callId, status, value]`; status EVENT
 * carries a connection's end, unasked (`[handle, EVENT, reason]`). Objects in the I/O thread
 * (endpoints, incoming attempts, connections, streams) are named by handles it hands out.
 * Bytes travel as ArrayBuffers, transferred, never copied by the message channel.
 */
export const enum Op {
  BIND = 1,
  /** `[RELEASE, callId, endpoint, deadlineMs]` after close: collects until its sockets are free (false after the deadline). */
  RELEASE,
  /** No endpoint is left: the thread ends once the binding has nothing under way. */
  END,
  /**
   * The process is exiting (`process.exit()`), which ends the thread: close every endpoint
   * and say, through {@link EXIT_WORD}, once the binding has nothing under way.
   */
  EXIT,
  ACCEPT_NEXT,
  CONNECT,
  CLOSE_ENDPOINT,
  TICKET,
  REMOTE_ADDR,
  ACCEPT,
  REFUSE,
  OPEN_BI,
  ACCEPT_BI,
  CLOSE_CONNECTION,
  SET_MAX_BI,
  SNAPSHOT,
  /** `[WRITE, callId, stream, bytes, waited]`: `waited` when the caller waits for its answer (else it may come late). */
  WRITE,
  FINISH,
  STOPPED,
  RESET,
  READ,
  STOP,
  ADDRESS_VALIDATED,
  RETRY,
}

export const enum Status {
  OK = 0,
  ERROR = 1,
  /** A connection closed: `[handle, EVENT, reason]`. */
  EVENT = 2,
}

export type Operation = [op: Op, callId: number, handle: number, a?: unknown, b?: unknown];
export type Answer = [callId: number, status: Status, value: unknown];

/** What the I/O thread tells about a connection when it hands it over. */
export interface ConnectionInfo {
  handle: number;
  remoteId: string;
  snapshot: ConnectionSnapshot;
}

export interface ConnectionSnapshot {
  stats: ConnectionStats;
  paths: PathSnapshot[];
  rtt: number | null;
}

/** What the I/O thread tells once an endpoint is bound. */
export interface BoundInfo {
  handle: number;
  id: string;
  sockets: string[];
}

/** What starts the I/O thread, from `workerData`. */
export interface IoThreadStart {
  /** Shared memory for the answers to synchronous calls. */
  sync: SharedArrayBuffer;
}

/**
 * Synchronous calls (the ticket, read where the caller cannot wait) are answered through
 * shared memory: the calling thread waits on word 0 (`Atomics.wait`) until the I/O thread
 * stores the answer's status there, word 1 holds the answer's length, and the answer (JSON,
 * UTF-8) follows the header. Word 2 is set to 1 once the thread is quiet after {@link Op.EXIT}.
 */
export const SYNC_HEADER_BYTES = 16;
export const SYNC_WORDS = 3;
export const EXIT_WORD = 2;
export const SYNC_BYTES = 64 * 1024;
export const enum SyncState {
  WAITING = 0,
  OK = 1,
  ERROR = 2,
}

/** An error as it crosses the thread boundary: its name (IrohError or another) and message. */
export interface ErrorRecord {
  name: string;
  message: string;
}

export function errorRecord(err: unknown): ErrorRecord {
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/** The error an {@link ErrorRecord} describes, on this side of the boundary. */
export function errorFromRecord(record: ErrorRecord): Error {
  if (record.name === 'IrohError') return new IrohError(record.message);
  const error = new Error(record.message);
  if (record.name !== 'Error') error.name = record.name;
  return error;
}
