import { randomBytes } from 'crypto';
import {
  Stats,
  closeSync,
  constants,
  fstatSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  readlinkSync,
  unlinkSync,
  writeFileSync,
} from 'fs';
import { basename, dirname, join } from 'path';
import iroh = require('./binding');
import { fromBindingBytes, toBindingBytes } from './bytes';
import { SecretKeyError } from './key-error';
import { CHECKS_OWNERSHIP, checkKeyFileStats, checkKeyFolders } from './key-file-permissions';

export { SecretKeyError } from './key-error';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
/** A key file is 64 hex characters and a newline; anything much longer is not one. */
const MAX_KEY_FILE_BYTES = 1024;
/** Errors of `link()` on file systems without hard links (FAT, some network shares). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);
/** Reading never follows a symlink put in place after the checks, nor blocks on a FIFO. */
const OPEN_FOR_READING = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** Where an endpoint's identity comes from. Neither given: a fresh key each time. */
export interface SecretKeySource {
  /** 64 hex characters (32 bytes). */
  secretKey?: string;
  /**
   * A file holding the key as 64 hex characters; created with mode 0600 when missing. Refused
   * unless it is a regular file of the running user that only that user can read, in folders
   * only that user or root can change (see `checkKeyFolders`).
   */
  secretKeyFile?: string;
}

/** Parses a hex secret key. The error never repeats the key. */
export function parseSecretKey(hex: string, origin = 'secretKey'): Buffer {
  const text = typeof hex === 'string' ? hex.trim() : '';
  if (!HEX_KEY.test(text)) {
    throw new SecretKeyError(`${origin} must be 64 hex characters (a 32-byte ed25519 secret key)`);
  }
  return Buffer.from(text, 'hex');
}

export function generateSecretKey(): Buffer {
  return fromBindingBytes(iroh.SecretKey.generate().toBytes());
}

/** The endpoint id (hex public key) of a secret key. */
export function endpointIdOf(secretKey: Buffer): string {
  return iroh.SecretKey.fromBytes(toBindingBytes([secretKey], secretKey.length))
    .public()
    .toString();
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

function lstatIfPresent(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw err;
  }
}

function linkTarget(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Reads the key file, or creates it with a fresh key: mode 0600, missing parent folders
 * 0700. The file and its folders are checked first (see `checkKeyFileStats` and
 * `checkKeyFolders`): whoever can read the key can act as this service, and whoever can
 * replace it chooses this service's identity.
 *
 * Creation is atomic: the key is written and synced to a private temporary file in the same
 * folder, then hard-linked to its name, which fails if the name exists. No other process ever
 * sees a partial or readable key there, and a key another process created first is never
 * replaced: it is checked and used instead.
 */
export function loadOrCreateKeyFile(path: string): Buffer {
  // Another process may create the file between our look and our link: then read theirs.
  // It could be removed again just as fast; a few rounds settle any real race.
  for (let round = 0; round < 3; round++) {
    let existing: Stats | null;
    try {
      existing = lstatIfPresent(path);
      if (existing) return readKeyFile(path, existing);
    } catch (err) {
      throw keyFileError('cannot read key file', path, err);
    }
    try {
      const created = createKeyFile(path);
      if (created) return created;
    } catch (err) {
      throw keyFileError('cannot create key file', path, err);
    }
  }
  throw new SecretKeyError(`cannot create key file ${path}: it keeps appearing and disappearing`);
}

function keyFileError(what: string, path: string, err: unknown): SecretKeyError {
  if (err instanceof SecretKeyError) return err;
  return new SecretKeyError(`${what} ${path}: ${(err as Error).message}`);
}

function readKeyFile(path: string, seen: Stats): Buffer {
  checkKeyFolders(dirname(path), path);
  checkKeyFileStats(path, seen, seen.isSymbolicLink() ? linkTarget(path) : undefined);
  let fd: number;
  try {
    fd = openSync(path, OPEN_FOR_READING);
  } catch (err) {
    // ELOOP: the name became a symlink since it was checked.
    if (errorCode(err) === 'ELOOP') checkKeyFileStats(path, lstatSync(path), linkTarget(path));
    throw err;
  }
  let text: string;
  try {
    // The file that was opened is the one judged, whatever happens to the name meanwhile.
    checkKeyFileStats(path, fstatSync(fd));
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < buffer.length; length += n) {
      n = readSync(fd, buffer, length, buffer.length - length, length);
    }
    text = length > MAX_KEY_FILE_BYTES ? '' : buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
  return parseSecretKey(text, `key file ${path}`);
}

/** The nearest folder at or above `folder` that exists. */
function nearestExistingFolder(folder: string): string {
  for (let current = folder; ; current = dirname(current)) {
    if (lstatIfPresent(current) || dirname(current) === current) return current;
  }
}

/** Creates the key file; null when another process created it first. */
function createKeyFile(path: string): Buffer | null {
  const folder = dirname(path);
  // Judge the folders before putting anything in them, and again once the missing ones exist.
  checkKeyFolders(nearestExistingFolder(folder), path);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  checkKeyFolders(folder, path);

  const key = generateSecretKey();
  const content = key.toString('hex') + '\n';
  const temporary = join(folder, `.${basename(path)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  if (!writePrivateFile(temporary, content)) throw new Error(`${temporary} exists`);
  let published: boolean;
  try {
    published = publish(temporary, path, content);
  } finally {
    removeQuietly(temporary);
  }
  if (published) syncFolder(folder);
  return published ? key : null;
}

/** Gives the temporary file its final name unless that name exists; false if it does. */
function publish(temporary: string, path: string, content: string): boolean {
  try {
    linkSync(temporary, path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(errorCode(err) ?? '')) throw err;
  }
  // Without hard links, create the name exclusively and write there. The key is never
  // readable by others, but another process can see it empty for a moment (and fail).
  return writePrivateFile(path, content);
}

/**
 * Writes a new file, mode 0600, synced; false if the name exists. Never writes to an existing
 * file or through a symlink (O_EXCL), and removes what it created if writing fails.
 */
function writePrivateFile(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    if (CHECKS_OWNERSHIP) fchmodSync(fd, 0o600); // whatever the umask
    writeFileSync(fd, content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    removeQuietly(path);
    throw err;
  }
  closeSync(fd);
  return true;
}

/** Makes the new name survive a crash (best effort: not every system can sync a folder). */
function syncFolder(folder: string): void {
  if (process.platform === 'win32') return;
  try {
    const fd = openSync(folder, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // The key is written and synced; only the folder entry's durability is not ensured.
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone, or never created.
  }
}

/** The secret key for an endpoint: given, from a file, or fresh. */
export function resolveSecretKey(source: SecretKeySource): Buffer {
  if (source.secretKey !== undefined && source.secretKeyFile !== undefined) {
    throw new SecretKeyError('give either secretKey or secretKeyFile, not both');
  }
  if (source.secretKey !== undefined) return parseSecretKey(source.secretKey);
  if (source.secretKeyFile !== undefined) return loadOrCreateKeyFile(source.secretKeyFile);
  return generateSecretKey();
}
