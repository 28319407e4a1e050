import { spawn } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { endpointIdOf, loadOrCreateKeyFile } from '../../src';
import { eventually, RunningServer, startIrohServer } from '../support/harness';
import { MathModule, observed } from '../support/math.app';

/**
 * The command-line tool as its own process (run from source, compiled on the fly), against
 * a service running in this test process. In the Nest 11 suite both sides use Nest 11.
 */
jest.setTimeout(60_000);

const root = resolve(__dirname, '../..');
const nestMajor = (globalThis as any).NEST_MAJOR ?? 12;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], limitMs = 20_000): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (nestMajor === 11) env.NEST_MODULES = join(root, 'test/nest11/node_modules');
  const started = Date.now();
  const child = spawn(process.execPath, ['-r', join(root, 'test/support/ts-register.js'), join(root, 'src/cli/main.ts'), ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', d => (stdout += d));
  child.stderr.on('data', d => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  return new Promise(done =>
    child.on('close', code => {
      clearTimeout(killer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    }),
  );
}

/** Offline and quick to give up: every test peer is on loopback. */
const OFFLINE = ['--no-relay', '--connect-timeout', '3000'];

describe('the nestjs-iroh command-line tool', () => {
  let running: RunningServer;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-cli-'));
    running = await startIrohServer(MathModule);
  });

  afterAll(async () => {
    await running?.app.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => observed.reset());

  it('keygen writes a private key file and prints its endpoint id; id reads it back', async () => {
    const file = join(dir, 'keys', 'caller.key');
    const made = await cli(['keygen', file]);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    expect(made.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(made.stdout.trim()).toBe(endpointIdOf(loadOrCreateKeyFile(file)));

    const [read, again, missing] = await Promise.all([cli(['id', file]), cli(['keygen', file]), cli(['id', join(dir, 'missing.key')])]);
    expect(read).toMatchObject({ code: 0, stdout: made.stdout });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^nestjs-iroh: .*already exists.*\n$/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^nestjs-iroh: no key file at .*missing\.key.*\n$/);
    expect(existsSync(join(dir, 'missing.key'))).toBe(false);
  });

  it('call prints the reply as JSON, and one JSON line per value of a stream', async () => {
    const [sum, objectPattern, stream, empty] = await Promise.all([
      cli(['call', running.ticket, 'sum', '[1,2,3]', ...OFFLINE]),
      cli(['call', running.ticket, '{"version":2,"cmd":"sum"}', '[4,5]', ...OFFLINE]),
      cli(['call', running.ticket, 'range', '3', ...OFFLINE]),
      cli(['call', running.ticket, 'range', '0', ...OFFLINE]),
    ]);
    expect(sum).toMatchObject({ code: 0, stdout: '6\n', stderr: '' });
    expect(objectPattern).toMatchObject({ code: 0, stdout: '{"total":9}\n' });
    expect(stream).toMatchObject({ code: 0, stdout: '0\n1\n2\n' });
    expect(empty).toMatchObject({ code: 0, stdout: '' });
  });

  it('call exits 1 with the error reply on one line', async () => {
    const [rpc, unknown] = await Promise.all([
      cli(['call', running.ticket, 'fail.rpc', '{}', ...OFFLINE]),
      cli(['call', running.ticket, 'no.such.pattern', '{}', ...OFFLINE]),
    ]);
    expect(rpc).toMatchObject({ code: 1, stdout: '' });
    expect(rpc.stderr).toBe('nestjs-iroh: error reply: {"code":"E_NOPE","message":"not allowed","details":[1,2]}\n');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^nestjs-iroh: error reply: "There is no matching message handler.*"\n$/);
  });

  it('call --timeout gives up on a slow reply', async () => {
    const slow = await cli(['call', running.ticket, 'delay', '{"ms":5000,"value":1}', '--timeout', '300', ...OFFLINE]);
    expect(slow).toMatchObject({ code: 1, stdout: '', stderr: 'nestjs-iroh: no reply within 300 ms\n' });
  });

  it('call --key makes the caller that identity', async () => {
    const file = join(dir, 'identity.key');
    const id = endpointIdOf(loadOrCreateKeyFile(file));
    const whoami = await cli(['call', running.ticket, 'whoami', '{}', '--key', file, ...OFFLINE]);
    expect(whoami.code).toBe(0);
    expect(JSON.parse(whoami.stdout)).toEqual({ id, pattern: 'whoami' });
  });

  it('emit delivers the event and prints nothing', async () => {
    const sent = await cli(['emit', running.ticket, 'item.created', '{"id":42}', ...OFFLINE]);
    expect(sent).toMatchObject({ code: 0, stdout: '', stderr: '' });
    await eventually(() => observed.events.length === 1, 5000, 'the event');
    expect(observed.events).toEqual([{ id: 42 }]);
  });

  it('ping times round trips and reports the direct path', async () => {
    const pinged = await cli(['ping', running.ticket, '--count', '3', '--interval', '50', '--pattern', 'sum', ...OFFLINE]);
    expect(pinged).toMatchObject({ code: 0, stderr: '' });
    const lines = pinged.stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(
      new RegExp(`^connected to ${running.server.endpointId} in [\\d.]+ ms, path=direct \\(127\\.0\\.0\\.1:\\d+\\)$`),
    );
    for (const [i, line] of lines.slice(1, 4).entries()) {
      expect(line).toMatch(new RegExp(`^reply from [0-9a-f]{10}: seq=${i + 1} time=[\\d.]+ ms path=direct \\(127\\.0\\.0\\.1:\\d+\\)$`));
    }
    expect(lines[4]).toMatch(
      /^--- [0-9a-f]{10}: 3 sent, 3 answered, 0 lost; round trip min\/avg\/max = [\d.]+ ms \/ [\d.]+ ms \/ [\d.]+ ms$/,
    );
  });

  it('ping counts an error reply as an answer (the default pattern needs no handler)', async () => {
    const pinged = await cli(['ping', running.ticket, '--count', '1', ...OFFLINE]);
    expect(pinged.code).toBe(0);
    expect(pinged.stdout).toMatch(/1 sent, 1 answered, 0 lost/);
  });

  it('refuses bad command lines with one line and exit code 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /no command given/],
      [['frob'], /unknown command "frob"/],
      [['call', running.ticket, 'sum'], /usage: nestjs-iroh call <peer> <pattern> <json>/],
      [['call', 'not-a-ticket', 'sum', '[1]'], /peer must be an endpoint ticket/],
      [['call', 'endpointnotreally', 'sum', '[1]'], /not a valid endpoint ticket/],
      [['call', running.ticket, 'sum', '[1,'], /the payload is not valid JSON/],
      [['call', running.ticket, '{"cmd":', '[1]'], /the pattern is not valid JSON/],
      [['emit', running.ticket, 'x', '{}', '--count', '2'], /emit does not take --count/],
      [['ping', running.ticket, '--count', 'many'], /--count must be a whole number/],
      [['call', running.ticket, 'sum', '[1]', '--frob'], /Unknown option '--frob'/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    runs.forEach((run, i) => {
      expect({ args: cases[i][0], code: run.code, stdout: run.stdout }).toEqual({ args: cases[i][0], code: 2, stdout: '' });
      expect(run.stderr).toMatch(/^nestjs-iroh: [^\n]+\n$/);
      expect(run.stderr).toMatch(cases[i][1]);
    });
  });

  it('reports an unreachable peer with one line and exit code 1', async () => {
    const stopped = await startIrohServer(MathModule);
    const ticket = stopped.ticket;
    await stopped.app.close();
    const [call, ping] = await Promise.all([
      cli(['call', ticket, 'sum', '[1]', '--no-relay', '--connect-timeout', '1000']),
      cli(['ping', ticket, '--no-relay', '--connect-timeout', '1000']),
    ]);
    for (const run of [call, ping]) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^nestjs-iroh: [^\n]*(timed out|cannot connect)[^\n]*\n$/);
      expect(run.ms).toBeLessThan(15_000);
    }
  });

  it('prints help and its version', async () => {
    const [help, version] = await Promise.all([cli(['--help']), cli(['--version'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: nestjs-iroh <command>/);
    expect(help.stdout).toMatch(/--no-relay/);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(version).toMatchObject({ code: 0, stdout: `${manifest.version}\n` });
  });
});

describe('a key file readable by others', () => {
  it('is refused by id with the chmod hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-cli-'));
    try {
      const file = join(dir, 'open.key');
      writeFileSync(file, 'ab'.repeat(32) + '\n', { mode: 0o644 });
      const run = await cli(['id', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^nestjs-iroh: key file .* is accessible by other users .*chmod 600/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
