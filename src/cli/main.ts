#!/usr/bin/env node
import { runCli } from './cli';
import { ExitCode } from './errors';

const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());

runCli(process.argv.slice(2), {
  out: line => process.stdout.write(line + '\n'),
  err: line => process.stderr.write(line + '\n'),
  signal: interrupt.signal,
}).then(
  code => finish(code),
  err => {
    process.stderr.write(`nestjs-iroh: ${err instanceof Error ? err.message : err}\n`);
    finish(ExitCode.FAILED);
  },
);

/** Exits with `code` once the event loop drains; native handles left open get a second to close. */
function finish(code: ExitCode): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
}
