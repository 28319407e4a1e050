import { lstatSync } from 'fs';
import { CliError } from './errors';

/**
 * Fails unless something is at `path`: the tool only creates key files with `keygen`. A
 * symlink counts (even a dangling one), so that reading it reports why it is refused.
 */
export function requireKeyFile(path: string): void {
  try {
    lstatSync(path);
  } catch {
    throw new CliError(`no key file at ${path} (create one with: nestjs-iroh keygen ${path})`);
  }
}
