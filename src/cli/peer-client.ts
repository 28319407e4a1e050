import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ClientIroh } from '../client/client-iroh';
import { InvalidPeerError, parsePeer } from '../iroh';
import { CliOptions } from './command-line';
import { UsageError } from './errors';
import { parseCountArg } from './json-args';
import { requireKeyFile } from './key-file';

// The tool reports failures itself, one line each; ClientIroh would also log through Nest.
Logger.overrideLogger(false);

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The peer's endpoint id, or a usage error saying what is wrong with the argument. */
export function peerEndpointId(peer: string): string {
  try {
    return parsePeer(peer).id;
  } catch (err) {
    if (err instanceof InvalidPeerError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Connects a client to `peer`, runs `use` with it, and closes it. One connection attempt:
 * a tool run by hand reports an unreachable peer at once rather than retrying.
 */
export async function withPeerClient<T>(peer: string, options: CliOptions, use: (client: ClientIroh) => Promise<T>): Promise<T> {
  peerEndpointId(peer);
  if (options.key !== undefined) requireKeyFile(options.key);
  const client = new ClientIroh({
    peer,
    relayMode: options['no-relay'] ? 'disabled' : 'default',
    secretKeyFile: options.key,
    bindAddr: options.bind,
    connectTimeout: parseCountArg(options['connect-timeout'], '--connect-timeout', DEFAULT_CONNECT_TIMEOUT_MS),
    retryAttempts: 0,
  });
  try {
    await client.connect();
    return await use(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}
