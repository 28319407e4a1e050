import { existsSync } from 'fs';
import { CliError, ExitCode } from '../errors';
import { Command } from './command';

/** Writes a new key file (mode 600, the format services read) and prints its endpoint id. */
export const keygen: Command = {
  args: ['file'],
  options: [],
  async run([file], _options, io) {
    if (existsSync(file)) {
      throw new CliError(`${file} already exists: keygen never replaces a key (remove the file first to make a new one)`);
    }
    const { endpointIdOf, loadOrCreateKeyFile } = await import('../../iroh');
    io.out(endpointIdOf(loadOrCreateKeyFile(file)));
    return ExitCode.OK;
  },
};
