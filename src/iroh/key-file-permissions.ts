import { Stats, realpathSync, statSync } from 'fs';
import { dirname } from 'path';
import { SecretKeyError } from './key-error';

/**
 * Who may read or replace a key file, checked the way OpenSSH checks its key files.
 *
 * Whoever can read the key can act as the service; whoever can replace it can give the
 * service an identity of their choosing (theirs, so they can impersonate it later). A key
 * file is therefore accepted only when it is a regular file (not a symlink) owned by the
 * running user with no permission bits for group or others, and when no other user can
 * rename or replace anything on the way to it: every folder from the file up to `/` is
 * owned by the running user or root and is not writable by group or others, unless it has
 * the sticky bit (see {@link checkKeyFolders}).
 *
 * On Windows, POSIX owners and mode bits say nothing about access (ACLs decide), so only
 * the symlink and regular-file checks apply there.
 */

/** POSIX ownership and mode checks apply (not on Windows). */
export const CHECKS_OWNERSHIP = process.platform !== 'win32' && typeof process.getuid === 'function';

const ROOT_UID = 0;
const GROUP_OTHER_BITS = 0o077;
const GROUP_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

function currentUid(): number {
  return process.getuid!();
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8);
}

/** Refuses a key file that is a symlink, not a regular file, or not private to this user. */
export function checkKeyFileStats(path: string, stats: Stats, linkTarget?: string): void {
  if (stats.isSymbolicLink()) {
    throw new SecretKeyError(
      `key file ${path} is a symbolic link${linkTarget ? ` (to ${linkTarget})` : ''}; ` +
        `a link lets whoever controls it choose the key: replace the symlink with the key file itself`,
    );
  }
  if (!stats.isFile()) {
    throw new SecretKeyError(`key file ${path} is not a regular file: give the path of a file holding the key`);
  }
  if (!CHECKS_OWNERSHIP) return;
  const uid = currentUid();
  if (stats.uid !== uid) {
    throw new SecretKeyError(
      `key file ${path} is owned by uid ${stats.uid}, not by uid ${uid} that runs this service, ` +
        `so that user chose the key: if the key is this service's, take ownership with: chown ${uid} ${path}; ` +
        `otherwise remove the file`,
    );
  }
  if ((stats.mode & GROUP_OTHER_BITS) !== 0) {
    throw new SecretKeyError(
      `key file ${path} is accessible by other users (mode ${octal(stats.mode & 0o777)}); ` + `restrict it with: chmod 600 ${path}`,
    );
  }
}

/**
 * Refuses a key file whose folders let another user rename or replace it. Walks the
 * resolved path of `start` (the key file's folder, or before it is created, its nearest
 * existing ancestor) (symlinked folders such as `/var/run` are judged by
 * where they lead, as OpenSSH does) up to `/`:
 * - each folder must belong to the running user or root (a folder's owner can replace any
 *   entry in it);
 * - a folder group or others can write to is refused, unless it has the sticky bit (like
 *   `/tmp`): there only an entry's owner (or the folder's owner, checked above) may rename or
 *   remove the entry, and every entry below it on the way to the key is checked to belong to
 *   this user or root. Another user can at most create the key file's name first, which is
 *   refused as a file they own. OpenSSH's `StrictModes` refuses sticky folders too, but it
 *   stops its walk at the home folder; without that stop, refusing them would refuse every
 *   key under `/tmp`, including private folders made by `mkdtemp`.
 *
 * `start` must exist. On Windows nothing is checked.
 */
export function checkKeyFolders(start: string, path: string): void {
  if (!CHECKS_OWNERSHIP) return;
  const uid = currentUid();
  let folder = realpathSync.native(start);
  const keyFolder = start === dirname(path) ? folder : null;
  for (;;) {
    const stats = statSync(folder);
    if (stats.uid !== uid && stats.uid !== ROOT_UID) {
      throw new SecretKeyError(
        `folder ${folder} of key file ${path} is owned by uid ${stats.uid}, who can replace the key: ` +
          `keep the key in a folder owned by ${uid === ROOT_UID ? 'root' : `uid ${uid} or root`}, ` +
          `or take ownership with: chown ${uid} ${folder}`,
      );
    }
    if ((stats.mode & GROUP_OTHER_WRITE) !== 0 && (stats.mode & STICKY) === 0) {
      const fix = folder === keyFolder ? `chmod 700 ${folder}` : `chmod go-w ${folder}`;
      throw new SecretKeyError(
        `folder ${folder} of key file ${path} can be written by other users (mode ${octal(stats.mode)}), ` +
          `who can replace the key: restrict it with: ${fix} (or keep the key in a folder only this user can write to)`,
      );
    }
    const parent = dirname(folder);
    if (parent === folder) return;
    folder = parent;
  }
}
