import { mkdirSync, readFileSync, statSync, writeFileSync } from 'fs';
import { dirname } from 'path';
import iroh = require('./binding');

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** Where an endpoint's identity comes from. Neither given: a fresh key each time. */
export interface SecretKeySource {
  /** 64 hex characters (32 bytes). */
  secretKey?: string;
  /** A file holding the key as 64 hex characters; created with mode 0600 when missing. */
  secretKeyFile?: string;
}

export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
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
  return Buffer.from(iroh.SecretKey.generate().toBytes());
}

/** The endpoint id (hex public key) of a secret key. */
export function endpointIdOf(secretKey: Buffer): string {
  return iroh.SecretKey.fromBytes(Array.from(secretKey)).public().toString();
}

/**
 * Reads the key file, or creates it (mode 0600, parent folders as needed) with a fresh key.
 * A key file that other users can read is refused: whoever reads it can act as this service.
 */
export function loadOrCreateKeyFile(path: string): Buffer {
  let mode: number | null = null;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SecretKeyError(`cannot read key file ${path}: ${(err as Error).message}`);
    }
  }
  if (mode === null) {
    const key = generateSecretKey();
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
      return key;
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SecretKeyError(`cannot create key file ${path}: ${(err as Error).message}`);
      }
      mode = statSync(path).mode;
    }
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new SecretKeyError(
      `key file ${path} is accessible by other users (mode ${(mode & 0o777).toString(8)}); ` +
        `restrict it with: chmod 600 ${path}`,
    );
  }
  return parseSecretKey(readFileSync(path, 'utf8'), `key file ${path}`);
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
