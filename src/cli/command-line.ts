import { parseArgs } from 'util';
import { UsageError } from './errors';

/** The options as given; each command parses the values it uses. */
export interface CliOptions {
  'no-relay'?: boolean;
  key?: string;
  bind?: string;
  'connect-timeout'?: string;
  timeout?: string;
  count?: string;
  interval?: string;
  pattern?: string;
}

export type OptionName = keyof CliOptions;

export interface CommandLine {
  command: string | null;
  args: string[];
  options: CliOptions;
  help: boolean;
  version: boolean;
}

const OPTION_SPECS = {
  'no-relay': { type: 'boolean' },
  key: { type: 'string' },
  bind: { type: 'string' },
  'connect-timeout': { type: 'string' },
  timeout: { type: 'string' },
  count: { type: 'string' },
  interval: { type: 'string' },
  pattern: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export function parseCommandLine(argv: string[]): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTION_SPECS, allowPositionals: true, strict: true });
  } catch (err) {
    // Node's message goes on to explain `--`; its first sentence is the problem.
    const message = (err as Error).message.split(/\.\s/)[0];
    throw new UsageError(`${message} (a value starting with "-" goes after "--")`);
  }
  const { help, version, ...options } = parsed.values;
  const [command = null, ...args] = parsed.positionals;
  return { command, args, options, help: help === true, version: version === true };
}

/** Refuses options the command does not take. */
export function checkOptions(command: string, options: CliOptions, allowed: readonly OptionName[]): void {
  for (const name of Object.keys(options) as OptionName[]) {
    if (options[name] !== undefined && !allowed.includes(name)) {
      throw new UsageError(`${command} does not take --${name}`);
    }
  }
}
