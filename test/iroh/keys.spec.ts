import { spawn, spawnSync } from 'child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { bindEndpoint } from '../../src/iroh/endpoint';
import { SecretKeyError, endpointIdOf, generateSecretKey, loadOrCreateKeyFile } from '../../src/iroh/keys';

/** The unprivileged user of the ownership tests (`nobody` on Linux). */
const OTHER_UID = 65534;
const IS_ROOT = process.getuid?.() === 0;
const asRoot = IS_ROOT ? it : it.skip;
if (!IS_ROOT) {
  console.warn('keys.spec: ownership tests skipped: they chown files to another user, which needs root');
}

function refusal(path: string): string {
  try {
    loadOrCreateKeyFile(path);
  } catch (err) {
    expect(err).toBeInstanceOf(SecretKeyError);
    return (err as Error).message;
  }
  throw new Error(`${path} was accepted`);
}

/** Writes a valid key file, mode 0600; returns the key's hex. */
function writeKey(path: string, mode = 0o600): string {
  const hex = generateSecretKey().toString('hex');
  writeFileSync(path, hex + '\n', { mode });
  chmodSync(path, mode);
  return hex;
}

function folder(path: string, mode: number): string {
  mkdirSync(path, { recursive: true });
  chmodSync(path, mode);
  return path;
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o7777;
}

let dir: string;
beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'nestjs-iroh-keyfile-')));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('creating a key file', () => {
  it('writes mode 0600 in folders made with mode 0700, even with umask 0, and reads the same key back', async () => {
    const file = join(dir, 'a/b/service.key');
    const previous = process.umask(0);
    let key: Buffer;
    try {
      key = loadOrCreateKeyFile(file);
    } finally {
      process.umask(previous);
    }
    expect(modeOf(file)).toBe(0o600);
    expect(modeOf(join(dir, 'a'))).toBe(0o700);
    expect(modeOf(join(dir, 'a/b'))).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toBe(key.toString('hex') + '\n');
    expect(loadOrCreateKeyFile(file).equals(key)).toBe(true);
    expect(readdirSync(join(dir, 'a/b'))).toEqual(['service.key']);

    const endpoint = await bindEndpoint({ secretKeyFile: file, relayMode: 'disabled', bindAddr: '127.0.0.1:0' });
    try {
      expect(endpoint.id().toString()).toBe(endpointIdOf(key));
    } finally {
      await endpoint.close();
    }
  });

  it('in an existing 0755 folder and in a sticky world-writable folder (like /tmp)', () => {
    const open = folder(join(dir, 'public'), 0o755);
    const sticky = folder(join(dir, 'sticky'), 0o1777);
    for (const file of [join(open, 'service.key'), join(sticky, 'service.key')]) {
      const key = loadOrCreateKeyFile(file);
      expect(modeOf(file)).toBe(0o600);
      expect(loadOrCreateKeyFile(file).equals(key)).toBe(true);
    }
  });

  it('many processes creating the same key file at once all end with the one key, and leave no temporary file', async () => {
    const creators = 8;
    for (const round of [1, 2]) {
      const file = join(dir, `race-${round}`, 'service.key');
      const startAt = String(Date.now() + 2000);
      const outputs = await Promise.all(Array.from({ length: creators }, () => runCreator({ KEY_FILE: file, START_AT: startAt })));
      const ids = outputs.map(out => /^ID ([0-9a-f]{64})$/m.exec(out)?.[1] ?? out);
      expect(new Set(ids)).toEqual(new Set([endpointIdOf(loadOrCreateKeyFile(file))]));
      expect(modeOf(file)).toBe(0o600);
      expect(readdirSync(join(dir, `race-${round}`))).toEqual(['service.key']);
    }
  }, 60_000);

  it('refuses to create a key in a folder others can write to, and leaves nothing there', () => {
    const open = folder(join(dir, 'open'), 0o777);
    const message = refusal(join(open, 'service.key'));
    expect(message).toBe(
      `folder ${open} of key file ${join(open, 'service.key')} can be written by other users (mode 777), ` +
        `who can replace the key: restrict it with: chmod 700 ${open} (or keep the key in a folder only this user can write to)`,
    );
    expect(readdirSync(open)).toEqual([]);

    // Missing folders below a writable one are not created either.
    const nested = join(open, 'x/y/service.key');
    expect(refusal(nested)).toContain(`folder ${open} of key file ${nested} can be written by other users (mode 777)`);
    expect(refusal(nested)).toContain(`chmod go-w ${open}`);
    expect(readdirSync(open)).toEqual([]);
  });
});

describe('reading a key file', () => {
  it('refuses a key file group or others can read, without printing the key', () => {
    for (const mode of [0o640, 0o604, 0o660]) {
      const file = join(dir, `open-${mode.toString(8)}.key`);
      const hex = writeKey(file, mode);
      const message = refusal(file);
      expect(message).toBe(`key file ${file} is accessible by other users (mode ${mode.toString(8)}); restrict it with: chmod 600 ${file}`);
      expect(message).not.toContain(hex);
      chmodSync(file, 0o600);
      expect(loadOrCreateKeyFile(file).toString('hex')).toBe(hex);
    }
  });

  it('refuses a symlink, even to a key file of its own, and does not create the target of a dangling one', () => {
    const own = join(dir, 'own.key');
    const hex = writeKey(own);
    const link = join(dir, 'link.key');
    symlinkSync(own, link);
    expect(refusal(link)).toBe(
      `key file ${link} is a symbolic link (to ${own}); a link lets whoever controls it choose the key: ` +
        `replace the symlink with the key file itself`,
    );
    expect(loadOrCreateKeyFile(own).toString('hex')).toBe(hex);

    const dangling = join(dir, 'dangling.key');
    const target = join(dir, 'target.key');
    symlinkSync(target, dangling);
    expect(refusal(dangling)).toContain('replace the symlink with the key file itself');
    expect(existsSync(target)).toBe(false);
  });

  asRoot("refuses a symlink to another user's key file", () => {
    const theirs = join(dir, 'theirs.key');
    writeKey(theirs);
    chownSync(theirs, OTHER_UID, OTHER_UID);
    const link = join(dir, 'link.key');
    symlinkSync(theirs, link);
    expect(refusal(link)).toContain(`key file ${link} is a symbolic link (to ${theirs})`);
    expect(refusal(link)).toContain('replace the symlink with the key file itself');
  });

  asRoot('refuses a key file owned by another user', () => {
    const file = join(dir, 'theirs.key');
    writeKey(file);
    chownSync(file, OTHER_UID, OTHER_UID);
    expect(refusal(file)).toBe(
      `key file ${file} is owned by uid ${OTHER_UID}, not by uid 0 that runs this service, so that user chose the key: ` +
        `if the key is this service's, take ownership with: chown 0 ${file}; otherwise remove the file`,
    );
    chownSync(file, 0, 0);
    expect(loadOrCreateKeyFile(file)).toHaveLength(32);
  });

  it('refuses a key file in a folder others can write to, or below one', () => {
    const open = folder(join(dir, 'open'), 0o777);
    const file = join(open, 'service.key');
    writeKey(file);
    expect(refusal(file)).toContain(`folder ${open} of key file ${file} can be written by other users (mode 777)`);
    expect(refusal(file)).toContain(`chmod 700 ${open}`);

    chmodSync(open, 0o775);
    expect(refusal(file)).toContain(
      'can be written by other users (mode 775), who can replace the key: ' + `restrict it with: chmod 700 ${open}`,
    );

    // A private folder inside a writable one: the writable one can rename the private one away.
    chmodSync(open, 0o777);
    const inner = folder(join(open, 'private'), 0o700);
    const deep = join(inner, 'service.key');
    writeKey(deep);
    expect(refusal(deep)).toContain(`folder ${open} of key file ${deep} can be written by other users (mode 777)`);
    expect(refusal(deep)).toContain(`restrict it with: chmod go-w ${open}`);

    chmodSync(open, 0o755);
    expect(loadOrCreateKeyFile(file)).toHaveLength(32);
    expect(loadOrCreateKeyFile(deep)).toHaveLength(32);
  });

  asRoot('refuses a key file in a folder owned by another user', () => {
    const theirs = folder(join(dir, 'theirs'), 0o755);
    const file = join(theirs, 'service.key');
    writeKey(file);
    chownSync(theirs, OTHER_UID, OTHER_UID);
    expect(refusal(file)).toBe(
      `folder ${theirs} of key file ${file} is owned by uid ${OTHER_UID}, who can replace the key: ` +
        `keep the key in a folder owned by root, or take ownership with: chown 0 ${theirs}`,
    );
  });

  asRoot("refuses another user's file in a sticky folder", () => {
    const sticky = folder(join(dir, 'sticky'), 0o1777);
    const file = join(sticky, 'service.key');
    writeKey(file);
    expect(loadOrCreateKeyFile(file)).toHaveLength(32);
    chownSync(file, OTHER_UID, OTHER_UID);
    expect(refusal(file)).toContain(`is owned by uid ${OTHER_UID}`);
  });

  asRoot("the attack: another user renames its own key over the service's key in a 0777 folder", () => {
    chmodSync(dir, 0o755); // let the other user reach the folder
    const keys = folder(join(dir, 'keys'), 0o755);
    const file = join(keys, 'service.key');
    const service = loadOrCreateKeyFile(file);
    chmodSync(keys, 0o777); // the mistake

    const attacker = spawnSync(
      process.execPath,
      [
        '-e',
        `const fs = require('fs');
         const mine = process.argv[1] + '.mine';
         fs.writeFileSync(mine, require('crypto').randomBytes(32).toString('hex'), { mode: 0o600 });
         fs.renameSync(mine, process.argv[1]);`,
        file,
      ],
      { uid: OTHER_UID, gid: OTHER_UID, env: {}, encoding: 'utf8', timeout: 10_000 },
    );
    expect({ error: attacker.error?.message, stderr: attacker.stderr, status: attacker.status }).toEqual({
      error: undefined,
      stderr: '',
      status: 0,
    });
    expect(statSync(file).uid).toBe(OTHER_UID); // the swap happened
    expect(readFileSync(file, 'utf8')).not.toBe(service.toString('hex') + '\n');

    expect(refusal(file)).toContain(`folder ${keys} of key file ${file} can be written by other users (mode 777)`);
    expect(refusal(file)).toContain(`chmod 700 ${keys}`);
    chmodSync(keys, 0o700); // the folder fixed, the planted key is still refused
    expect(refusal(file)).toContain(`key file ${file} is owned by uid ${OTHER_UID}`);
    expect(refusal(file)).toContain(`chown 0 ${file}; otherwise remove the file`);
  });

  it('refuses what is not a regular file, without waiting on a FIFO', () => {
    const sub = folder(join(dir, 'sub.key'), 0o700);
    expect(refusal(sub)).toBe(`key file ${sub} is not a regular file: give the path of a file holding the key`);
    const fifo = join(dir, 'fifo.key');
    const made = spawnSync('mkfifo', ['-m', '600', fifo]);
    if (made.status !== 0) return console.warn('keys.spec: mkfifo unavailable, FIFO case skipped');
    expect(refusal(fifo)).toBe(`key file ${fifo} is not a regular file: give the path of a file holding the key`);
  });

  it('refuses content that is not a key, without printing it', () => {
    const file = join(dir, 'bad.key');
    const secretish = 'zz'.repeat(32);
    writeFileSync(file, secretish, { mode: 0o600 });
    expect(refusal(file)).toBe(`key file ${file} must be 64 hex characters (a 32-byte ed25519 secret key)`);
    writeFileSync(file, generateSecretKey().toString('hex') + ' '.repeat(2000), { mode: 0o600 });
    expect(refusal(file)).toBe(`key file ${file} must be 64 hex characters (a 32-byte ed25519 secret key)`);
  });
});

/** Runs test/support/key-file-creator.ts; resolves with its output. */
function runCreator(env: Record<string, string>): Promise<string> {
  const support = join(__dirname, '../support');
  const child = spawn(process.execPath, ['-r', join(support, 'ts-register.js'), join(support, 'key-file-creator.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', d => (out += d));
  child.stderr.on('data', d => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`key file creator did not finish within 30 s: ${out}`));
    }, 30_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}
