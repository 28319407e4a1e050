import { readFileSync } from 'fs';
import { join } from 'path';
import { checkOptions, parseCommandLine } from './command-line';
import { call } from './commands/call';
import { Command, CommandIo } from './commands/command';
import { emit } from './commands/emit';
import { id } from './commands/id';
import { keygen } from './commands/keygen';
import { ping } from './commands/ping';
import { CliError, ExitCode, UsageError, oneLine } from './errors';
import { USAGE } from './usage';

const COMMANDS: Record<string, Command> = { keygen, id, call, emit, ping };

/** Runs one command line; every failure is reported as one line on `io.err`. */
export async function runCli(argv: string[], io: CommandIo): Promise<ExitCode> {
  try {
    const line = parseCommandLine(argv);
    if (line.version) {
      io.out(packageVersion());
      return ExitCode.OK;
    }
    if (line.help) {
      io.out(USAGE);
      return ExitCode.OK;
    }
    if (line.command === null) throw new UsageError('no command given');
    const command = COMMANDS[line.command];
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(line.command)}`);
    if (line.args.length !== command.args.length) {
      throw new UsageError(`usage: nestjs-iroh ${line.command} ${command.args.map(a => `<${a}>`).join(' ')}`);
    }
    checkOptions(line.command, line.options, command.options);
    return await command.run(line.args, line.options, io);
  } catch (err) {
    const failure = asCliError(err);
    const hint = failure instanceof UsageError ? ' (see nestjs-iroh --help)' : '';
    io.err(`nestjs-iroh: ${oneLine(failure.message)}${hint}`);
    return failure.exitCode;
  }
}

function asCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  return new CliError(err instanceof Error ? err.message : String(err));
}

function packageVersion(): string {
  // dist/cli/ and src/cli/ are both two levels below the package root.
  const manifest = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8'));
  return manifest.version;
}
