import { mkdirSync, renameSync, writeFileSync } from 'fs';
import { dirname } from 'path';

/**
 * Writes the ticket so that clients on this machine (the gateway, the CLI) can read it.
 * Written to a temporary file first and renamed: a reader never sees half a ticket.
 */
export function writeTicketFile(path: string, ticket: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, ticket + '\n');
  renameSync(partial, path);
}
