import { DEFAULT_CONNECT_TIMEOUT, IrohError, alpnBytes } from '../iroh';
import { ClientIrohOptions } from '../interfaces/iroh-options.interface';
import { resolveProtocolOptions } from '../interfaces/protocol-options';
import { PeerSettings } from './peer-connection';

/** A client's options with defaults applied. */
export interface ClientSettings {
  /** The peers as given (tickets or endpoint ids), without duplicates. */
  targets: string[];
  maxMessageSize: number;
  alpn: Buffer;
  /** Milliseconds a request may take, from subscribe to its last reply (0: no limit). */
  timeout: number;
  peer: PeerSettings;
}

/** Validates a client's options and applies the defaults; bad values are refused with a clear error. */
export function resolveClientOptions(options: ClientIrohOptions): ClientSettings {
  const targets = peerTargets(options);
  const protocol = resolveProtocolOptions(options);
  return {
    targets,
    maxMessageSize: protocol.maxMessageSize,
    alpn: alpnBytes(options.alpn),
    timeout: milliseconds(options.timeout, 0, 'timeout'),
    peer: {
      connectTimeout: milliseconds(options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 'connectTimeout'),
      compressionThreshold: protocol.compressionThreshold,
      retryAttempts: count(options.retryAttempts, Infinity, 'retryAttempts'),
      retryDelay: milliseconds(options.retryDelay, 100, 'retryDelay'),
      maxRetryDelay: milliseconds(options.maxRetryDelay, 1000, 'maxRetryDelay'),
      keepAlive: {
        interval: milliseconds(options.keepAliveInterval, 2000, 'keepAliveInterval'),
        timeout: milliseconds(options.keepAliveTimeout, 6000, 'keepAliveTimeout'),
      },
    },
  };
}

function peerTargets(options: ClientIrohOptions): string[] {
  const usage = 'ClientIroh needs options.peer (one server) or options.peers (several): endpoint tickets or endpoint ids';
  if (!options || typeof options !== 'object') throw new IrohError(usage);
  const peer: unknown = options.peer;
  const peers: unknown = options.peers;
  if (peer !== undefined && typeof peer !== 'string') throw new IrohError(`${usage}; peer is not a string`);
  if (peers !== undefined && (!Array.isArray(peers) || peers.some(p => typeof p !== 'string'))) {
    throw new IrohError(`${usage}; peers is not a list of strings`);
  }
  const all: string[] = [...(peer !== undefined ? [peer] : []), ...((peers as string[] | undefined) ?? [])];
  if (all.length === 0) throw new IrohError(usage);
  return [...new Set(all)];
}

function milliseconds(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name} must be a number of milliseconds, 0 or more (got ${value})`);
  }
  return value;
}

function count(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new TypeError(`${name} must be a whole number, 0 or more, or Infinity (got ${value})`);
  }
  return value;
}
