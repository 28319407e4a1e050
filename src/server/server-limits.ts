import type { IrohServerOptions } from '../interfaces/iroh-options.interface';

/** The server's limits with defaults applied (see IrohServerOptions for each). */
export interface ServerLimits {
  maxConnections: number;
  maxStreamsPerConnection: number;
  maxConcurrentRequests: number;
  maxConcurrentRequestsPerPeer: number;
  maxPatternLength: number;
  incompleteFrameTimeout: number;
  maxPendingReplyBytes: number;
  idleTimeout: number;
  writeStallTimeout: number;
  drainTimeout: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 10_000,
  maxStreamsPerConnection: 16,
  maxConcurrentRequests: 1024,
  maxConcurrentRequestsPerPeer: 4096,
  maxPatternLength: 1024,
  incompleteFrameTimeout: 30_000,
  maxPendingReplyBytes: 8 * 1024 * 1024,
  idleTimeout: 0,
  writeStallTimeout: 30_000,
  drainTimeout: 5000,
};

export function resolveServerLimits(options: IrohServerOptions): ServerLimits {
  const limits = { ...DEFAULT_SERVER_LIMITS };
  for (const key of Object.keys(limits) as Array<keyof ServerLimits>) {
    const value = options[key];
    if (value === undefined) continue;
    const minimum = key === 'drainTimeout' || key === 'idleTimeout' ? 0 : 1;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
      throw new TypeError(`${key} must be a whole number, ${minimum} or more (got ${String(value)})`);
    }
    limits[key] = value;
  }
  return limits;
}
