import { ExitCode } from '../errors';
import { parseCountArg, parseJsonArg, parsePatternArg } from '../json-args';
import { NETWORK_OPTIONS } from '../network-options';
import { Command } from './command';

/** Sends a request and prints each reply value as one line of JSON. */
export const call: Command = {
  args: ['peer', 'pattern', 'json'],
  options: [...NETWORK_OPTIONS, 'timeout'],
  async run([peer, patternText, json], options, io) {
    const pattern = parsePatternArg(patternText);
    const data = parseJsonArg(json, 'the payload');
    const timeoutMs = parseCountArg(options.timeout, '--timeout', 0);
    const { withPeerClient } = await import('../peer-client');
    const { forEachReply } = await import('../replies');
    await withPeerClient(peer, options, client =>
      forEachReply(client.send(pattern, data), value => io.out(JSON.stringify(value) ?? 'null'), {
        timeoutMs,
        signal: io.signal,
      }),
    );
    return ExitCode.OK;
  },
};
