import { existsSync } from 'fs';
import { CliError } from './errors';

/** Fails unless `path` exists: the tool only creates key files with `keygen`. */
export function requireKeyFile(path: string): void {
  if (!existsSync(path)) throw new CliError(`no key file at ${path} (create one with: nestjs-iroh keygen ${path})`);
}
