import { ExitCode } from '../errors';
import { parseJsonArg, parsePatternArg } from '../json-args';
import { NETWORK_OPTIONS } from '../network-options';
import { Command } from './command';

/** Sends an event; succeeds silently once it is handed to the connection. */
export const emit: Command = {
  args: ['peer', 'pattern', 'json'],
  options: NETWORK_OPTIONS,
  async run([peer, patternText, json], options) {
    const pattern = parsePatternArg(patternText);
    const data = parseJsonArg(json, 'the payload');
    const { withPeerClient } = await import('../peer-client');
    const { lastValueFrom } = await import('rxjs');
    await withPeerClient(peer, options, client => lastValueFrom(client.emit(pattern, data), { defaultValue: undefined }));
    return ExitCode.OK;
  },
};
