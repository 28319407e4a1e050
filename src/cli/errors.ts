/** Exit codes of the command-line tool. */
export enum ExitCode {
  OK = 0,
  /** The command failed: an error reply, an unreachable peer, an unreadable key file… */
  FAILED = 1,
  /** The command line itself is wrong. */
  USAGE = 2,
  /** Interrupted by Ctrl-C. */
  INTERRUPTED = 130,
}

/** A failure to report as one line, with the exit code it calls for. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.FAILED,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A wrong command line: reported with a pointer to `--help`. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
    this.name = 'UsageError';
  }
}

/** Any message on a single line: errors from the binding may span several. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
