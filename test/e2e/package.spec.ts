import { ChildProcess, execFileSync, spawn } from 'child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { killProcess } from '../support/processes';

/**
 * Packs the package, installs it into a fresh folder next to the Nest version under test,
 * and uses it from there: a CommonJS server process, an ES module client process, and a
 * strict type check of the declarations.
 */
jest.setTimeout(240_000);

const root = resolve(__dirname, '../..');
const fixtures = join(root, 'test/fixtures/consumer');
const nestMajor = (globalThis as any).NEST_MAJOR ?? 12;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe(`the packed package in a fresh Nest ${nestMajor} app`, () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-consumer-'));
    // Built into a staging copy, so that other tests using dist/ are not disturbed.
    const staging = join(dir, 'staging');
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(staging, 'dist')], {
      cwd: root,
      stdio: 'pipe',
      timeout: 120_000,
    });
    for (const entry of ['package.json', 'README.md', 'docs']) cpSync(join(root, entry), join(staging, entry), { recursive: true });
    execFileSync(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: staging, stdio: 'pipe', timeout: 120_000 });
    const tarball = readdirSync(dir).find(f => f.endsWith('.tgz'));
    if (!tarball) throw new Error('npm pack produced no tarball');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    const peers = ['common', 'core', 'microservices'].map(p => `@nestjs/${p}@^${nestMajor}`);
    execFileSync(
      npm,
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        join(dir, tarball),
        ...peers,
        'rxjs@^7',
        'reflect-metadata',
        '@types/node@^20',
      ],
      { cwd: dir, stdio: 'pipe', timeout: 180_000 },
    );
    for (const file of readdirSync(fixtures)) copyFileSync(join(fixtures, file), join(dir, file));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves from a CommonJS process and answers an ES module client process', async () => {
    const server = spawn(process.execPath, ['server.cjs'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const ticket = await readTicket(server);
      const out = execFileSync(process.execPath, ['client.mjs', ticket], { cwd: dir, timeout: 30_000 }).toString();
      expect(JSON.parse(out.trim().split('\n').pop() as string)).toEqual({ sum: 10, whoamiMatches: true });
      // The client's `stop` event ends the server process.
      await expect(exitCode(server, 10_000)).resolves.toBe(0);
    } finally {
      await killProcess(server);
    }
  });

  it('installs the nestjs-iroh command: keygen and id', () => {
    const bin = join(dir, 'node_modules/.bin/nestjs-iroh');
    execFileSync(bin, ['keygen', join(dir, 'cli.key')], { cwd: dir, timeout: 30_000 });
    const id = execFileSync(bin, ['id', join(dir, 'cli.key')], { cwd: dir, timeout: 30_000 })
      .toString()
      .trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
  });

  it('type-checks under strict without skipLibCheck, with no gRPC package installed', () => {
    expect(existsSync(join(dir, 'node_modules/@grpc'))).toBe(false);
    expect(readFileSync(join(dir, 'node_modules/nestjs-iroh/dist/index.d.ts'), 'utf8')).not.toMatch(/grpc/i);
    typeCheck('tsconfig.json');
  });

  it('serves the gRPC plug-in from nestjs-iroh/grpc once the gRPC packages are installed', () => {
    execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', '@grpc/grpc-js@^1.10', '@grpc/proto-loader@^0.8'], {
      cwd: dir,
      stdio: 'pipe',
      timeout: 180_000,
    });
    // By its typesVersions (node10 resolution, CommonJS), and by its exports from an ES module
    // (nodenext: Nest 12 is ES modules only).
    typeCheck('tsconfig.grpc.json');
    copyFileSync(join(dir, 'consumer-grpc.ts'), join(dir, 'consumer-grpc.mts'));
    typeCheck('tsconfig.grpc-nodenext.json');
    const loaded = execFileSync(
      process.execPath,
      [
        '-e',
        "const g = require('nestjs-iroh/grpc'); console.log(typeof g.IrohGrpcServer, typeof g.ClientGrpcIroh, 'IrohGrpcServer' in require('nestjs-iroh'))",
      ],
      { cwd: dir, timeout: 30_000 },
    );
    expect(loaded.toString().trim()).toBe('function function false');
  });

  function typeCheck(project: string): void {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', join(dir, project)], { cwd: dir, stdio: 'pipe', timeout: 60_000 });
    } catch (err) {
      throw new Error(`tsc -p ${project} failed:\n${(err as { stdout?: Buffer }).stdout?.toString() ?? String(err)}`, { cause: err });
    }
  }
});

function readTicket(child: ChildProcess): Promise<string> {
  return new Promise((resolveTicket, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no ticket from server: ${out}${err}`)), 30_000);
    child.stderr?.on('data', d => (err += d));
    child.stdout?.on('data', d => {
      out += d;
      const match = /TICKET (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolveTicket(match[1]);
      }
    });
    child.on('exit', code => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${err}`));
    });
  });
}

function exitCode(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolveExit, reject) => {
    if (child.exitCode !== null) return resolveExit(child.exitCode);
    const timer = setTimeout(() => reject(new Error('server did not exit')), ms);
    child.on('exit', code => {
      clearTimeout(timer);
      resolveExit(code);
    });
  });
}
