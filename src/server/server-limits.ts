import type { IrohServerOptions } from '../interfaces/iroh-options.interface';

/** The server's limits with defaults applied (see IrohServerOptions for each). */
export interface ServerLimits {
  maxConnections: number;
  maxStreamsPerConnection: number;
  maxConcurrentRequests: number;
  maxConcurrentRequestsPerPeer: number;
  maxConcurrentEvents: number;
  maxConcurrentEventsPerPeer: number;
  maxReceiveMemory: number;
  maxInflateRatePerPeer: number;
  maxConnectionRatePerAddress: number;
  retryHandshakesAbove: number;
  allowPeersTimeout: number;
  maxPatternLength: number;
  incompleteFrameTimeout: number;
  maxPendingReplyBytes: number;
  idleTimeout: number;
  writeStallTimeout: number;
  drainTimeout: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 10_000,
  maxStreamsPerConnection: 16,
  maxConcurrentRequests: 1024,
  maxConcurrentRequestsPerPeer: 4096,
  maxConcurrentEvents: 1024,
  maxConcurrentEventsPerPeer: 4096,
  maxReceiveMemory: 256 * MiB,
  maxInflateRatePerPeer: 64 * MiB,
  maxConnectionRatePerAddress: 100,
  retryHandshakesAbove: 64,
  allowPeersTimeout: 10_000,
  maxPatternLength: 1024,
  incompleteFrameTimeout: 30_000,
  maxPendingReplyBytes: 8 * MiB,
  idleTimeout: 0,
  writeStallTimeout: 30_000,
  drainTimeout: 5000,
};

/** Limits that may be 0 (0 turns them off, or means no wait). */
const ZERO_ALLOWED = new Set<keyof ServerLimits>([
  'drainTimeout',
  'idleTimeout',
  'maxConnectionRatePerAddress',
  'retryHandshakesAbove',
  'allowPeersTimeout',
]);

export function resolveServerLimits(options: IrohServerOptions): ServerLimits {
  const limits = { ...DEFAULT_SERVER_LIMITS };
  for (const key of Object.keys(limits) as Array<keyof ServerLimits>) {
    const value = options[key];
    if (value === undefined) continue;
    const minimum = ZERO_ALLOWED.has(key) ? 0 : 1;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
      throw new TypeError(`${key} must be a whole number, ${minimum} or more (got ${String(value)})`);
    }
    limits[key] = value;
  }
  return limits;
}
