import { CliOptions, OptionName } from '../command-line';
import { ExitCode } from '../errors';

/** Where a command writes, and the signal that Ctrl-C aborts. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
  signal: AbortSignal;
}

export interface Command {
  /** Positional arguments, for the usage line. */
  args: readonly string[];
  options: readonly OptionName[];
  run(args: string[], options: CliOptions, io: CommandIo): Promise<ExitCode>;
}
