import { ExitCode } from '../errors';
import { requireKeyFile } from '../key-file';
import { Command } from './command';

/** Prints the endpoint id (public key) of a key file. */
export const id: Command = {
  args: ['file'],
  options: [],
  async run([file], _options, io) {
    requireKeyFile(file);
    const { endpointIdOf, loadOrCreateKeyFile } = await import('../../iroh');
    io.out(endpointIdOf(loadOrCreateKeyFile(file)));
    return ExitCode.OK;
  },
};
