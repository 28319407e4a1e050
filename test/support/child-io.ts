import { existsSync, readFileSync } from 'fs';
import { dirname, join } from 'path';

/** The version of an installed package (found from its entry point: Nest 12 exports no package.json). */
export function packageVersion(name: string): string {
  let dir = dirname(require.resolve(name));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      if (pkg.name === name) return pkg.version;
    }
    if (dirname(dir) === dir) return 'unknown';
    dir = dirname(dir);
  }
}

/** One JSON line on stdout: how the test's child processes report to the test. */
export function out(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
