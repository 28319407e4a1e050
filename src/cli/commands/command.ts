import { CliOptions, OptionName } from '../command-line';
import { ExitCode } from '../errors';

/** Where a command writes, and the signal that Ctrl-C aborts. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
  signal: AbortSignal;
}

/**
 * A command. Commands load the transport (Nest, the iroh binding) inside `run`, after their
 * arguments are checked: help and usage errors then answer at once.
 */
export interface Command {
  /** Positional arguments, for the usage line. */
  args: readonly string[];
  options: readonly OptionName[];
  run(args: string[], options: CliOptions, io: CommandIo): Promise<ExitCode>;
}
