import { spawn } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { AppProcess } from '../../sample-app/demo/src/app-process';

/**
 * The sample app as users run it: built with the Nest CLI (`npm run build:sample`), the
 * orders service and the gateway as separate processes, in each transport mode, checked
 * through the gateway's HTTP routes. All traffic stays on loopback, relays off.
 */
jest.setTimeout(60_000);

const root = resolve(__dirname, '../..');
const dist = join(root, 'sample-app/dist');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const START_MS = 30_000;

if ((globalThis as any).NEST_MAJOR === 11) {
  // The sample app needs @nestjs/platform-express and @nestjs/terminus, which test/nest11
  // does not have: its processes use the root install (Nest 12) in this suite too.
  console.log('sample-app.spec: the sample app runs on the root Nest 12 install in the Nest 11 suite as well');
}

const running: AppProcess[] = [];
let stateDir: string;

function start(label: string, app: 'orders' | 'gateway', env: Record<string, string>): AppProcess {
  const process = new AppProcess({ label, script: join(dist, app, 'main.js'), env });
  running.push(process);
  return process;
}

interface Service {
  app: AppProcess;
  endpointId: string | null;
  ticketFile: string;
  tcpPort: string | null;
}

async function startService(transport: string): Promise<Service> {
  const ticketFile = join(stateDir, 'orders.ticket');
  const app = start('orders', 'orders', {
    TRANSPORT: transport,
    IROH_KEY_FILE: join(stateDir, 'orders.key'),
    IROH_TICKET_FILE: ticketFile,
    IROH_RELAY: 'disabled',
    IROH_BIND: '127.0.0.1:0',
    TCP_HOST: '127.0.0.1',
    TCP_PORT: '0',
  });
  await app.waitFor(/Orders service ready/, START_MS);
  const id = app.lines.join('\n').match(/iroh endpoint id: ([0-9a-f]{64})/);
  const tcp = app.lines.join('\n').match(/TCP listening on 127\.0\.0\.1:(\d+)/);
  return { app, endpointId: id?.[1] ?? null, ticketFile, tcpPort: tcp?.[1] ?? null };
}

async function startGateway(transport: 'iroh' | 'tcp', service: Service): Promise<string> {
  const app = start(`gateway-${transport}`, 'gateway', {
    TRANSPORT: transport,
    HOST: '127.0.0.1',
    PORT: '0',
    ORDERS_TICKET: '',
    ORDERS_TICKET_FILE: service.ticketFile,
    IROH_RELAY: 'disabled',
    IROH_BIND: '127.0.0.1:0',
    ORDERS_TCP_HOST: '127.0.0.1',
    ORDERS_TCP_PORT: service.tcpPort ?? '1',
    HEALTH_TIMEOUT_MS: '1500',
    REQUEST_TIMEOUT_MS: '1500',
  });
  const [, url] = await app.waitFor(/Gateway listening on (http:\/\/127\.0\.0\.1:\d+),/, START_MS);
  return url;
}

async function http(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** The gateway's routes, each answered by the orders service over `transport`. */
async function expectGatewayServesOrders(url: string, transport: 'iroh' | 'tcp', service: Service): Promise<void> {
  const health = await http('GET', `${url}/health`);
  expect(health.status).toBe(200);
  expect(health.body.status).toBe('ok');
  if (transport === 'iroh') {
    expect(health.body.info.orders).toMatchObject({
      status: 'up',
      path: 'direct',
      remoteAddr: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(health.body.info.orders.rttMs).toBeGreaterThan(0);
  } else {
    expect(health.body.info.orders).toMatchObject({ status: 'up' });
  }

  const created = await http('POST', `${url}/orders`, { item: `beans via ${transport}`, quantity: 3 });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ item: `beans via ${transport}`, quantity: 3, status: 'placed' });
  const id: number = created.body.id;

  const refused = await http('POST', `${url}/orders`, { item: '', quantity: 0, extra: true });
  expect(refused.status).toBe(400);
  expect(refused.body.errors).toEqual(
    expect.arrayContaining(['item should not be empty', 'quantity must not be less than 1', 'property extra should not exist']),
  );

  await expect(http('GET', `${url}/orders/${id}`)).resolves.toEqual({ status: 200, body: created.body });
  await expect(http('GET', `${url}/orders/987654`)).resolves.toEqual({
    status: 404,
    body: { statusCode: 404, message: 'order 987654 not found' },
  });
  expect((await http('GET', `${url}/orders/abc`)).status).toBe(400);

  await expect(http('POST', `${url}/orders/${id}/cancel`)).resolves.toEqual({
    status: 202,
    body: { id, cancellation: 'requested' },
  });
  // The cancellation is an event: the service applies it on its own time.
  let listed: any[] = [];
  for (const until = Date.now() + 5000; Date.now() < until; await new Promise(r => setTimeout(r, 50))) {
    const list = await http('GET', `${url}/orders`);
    expect(list.status).toBe(200);
    listed = list.body;
    if (listed.find(o => o.id === id)?.status === 'cancelled') break;
  }
  expect(listed.find(o => o.id === id)).toMatchObject({ id, status: 'cancelled' });

  const status = await http('GET', `${url}/status`);
  expect(status.status).toBe(200);
  expect(status.body).toEqual({
    transport,
    orders: {
      status: 'ok',
      endpointId: service.endpointId,
      uptime: expect.any(Number),
      version: '1.0.0',
      connections: expect.any(Number),
    },
  });
  expect(status.body.orders.connections).toBeGreaterThanOrEqual(1);
}

beforeAll(async () => {
  await new Promise<void>((done, fail) => {
    const build = spawn(npm, ['run', 'build:sample'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const limit = setTimeout(() => build.kill('SIGKILL'), 140_000);
    let output = '';
    build.stdout.on('data', d => (output += d));
    build.stderr.on('data', d => (output += d));
    build.on('close', code => {
      clearTimeout(limit);
      if (code === 0) done();
      else fail(new Error(`npm run build:sample failed (${code}):\n${output}`));
    });
  });
}, 150_000);

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-sample-'));
});

afterEach(async () => {
  await Promise.all(running.splice(0).map(app => app.stop()));
  rmSync(stateDir, { recursive: true, force: true });
});

describe('the sample app in separate processes', () => {
  it('TRANSPORT=iroh: the gateway reaches the service by the ticket file, and the key file keeps its identity', async () => {
    const service = await startService('iroh');
    expect(service.endpointId).toMatch(/^[0-9a-f]{64}$/);
    expect(service.tcpPort).toBeNull();
    expect(readFileSync(service.ticketFile, 'utf8')).toMatch(/^endpoint[a-z0-9]+\n$/);
    const url = await startGateway('iroh', service);
    await expectGatewayServesOrders(url, 'iroh', service);

    // Without the service, the health route reports it down, and order routes fail with the
    // gateway's own 503 (unreachable) or 504 (no answer in time) instead of hanging.
    await service.app.stop();
    const health = await http('GET', `${url}/health`);
    expect(health.status).toBe(503);
    expect(health.body.error.orders.status).toBe('down');
    const orders = await http('GET', `${url}/orders`);
    expect([503, 504]).toContain(orders.status);
    expect(orders.body.message).toMatch(/orders service (is unreachable|did not answer within 1500 ms)/);

    // Started again with the same key file, it is the same endpoint.
    const restarted = await startService('iroh');
    expect(restarted.endpointId).toBe(service.endpointId);
  });

  it("TRANSPORT=tcp: the same apps over Nest's TCP transport", async () => {
    const service = await startService('tcp');
    expect(service.endpointId).toBeNull();
    expect(service.tcpPort).toMatch(/^\d+$/);
    const url = await startGateway('tcp', service);
    await expectGatewayServesOrders(url, 'tcp', service);
  });

  it('TRANSPORT=both: one hybrid service answers an iroh gateway and a TCP gateway at once', async () => {
    const service = await startService('both');
    expect(service.endpointId).toMatch(/^[0-9a-f]{64}$/);
    expect(service.tcpPort).toMatch(/^\d+$/);
    const [overIroh, overTcp] = await Promise.all([startGateway('iroh', service), startGateway('tcp', service)]);
    await Promise.all([expectGatewayServesOrders(overIroh, 'iroh', service), expectGatewayServesOrders(overTcp, 'tcp', service)]);
    // Both gateways' orders are in the one service.
    const { body } = await http('GET', `${overTcp}/orders`);
    expect(body.map((o: any) => o.item).sort()).toEqual(['beans via iroh', 'beans via tcp']);
  });
});

describe('the demo (`npm start -- --once`, after its build step)', () => {
  it('starts both apps, makes its calls through the gateway and exits 0', async () => {
    const demo = new AppProcess({
      label: 'demo',
      script: join(dist, 'demo/main.js'),
      args: ['--once', '--port', '0', '--state-dir', stateDir],
      env: {},
    });
    running.push(demo);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([demo.whenExited(), new Promise(r => (timer = setTimeout(() => r('timed out'), 45_000)))]);
    clearTimeout(timer);
    expect({ code, output: demo.lines.join('\n') }).toEqual({
      code: 0,
      output: expect.stringContaining('8 calls over iroh, all answered as expected.'),
    });
  });

  it('--trace: both apps print their spans, and a call through the gateway is one trace across the two processes', async () => {
    const demo = new AppProcess({
      label: 'demo',
      script: join(dist, 'demo/main.js'),
      args: ['--once', '--trace', '--port', '0', '--state-dir', join(stateDir, 'trace')],
      env: {},
    });
    running.push(demo);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([demo.whenExited(), new Promise(r => (timer = setTimeout(() => r('timed out'), 45_000)))]);
    clearTimeout(timer);
    const output = demo.lines.join('\n');
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('8 calls over iroh, all answered as expected.') });
    // The console exporter's `traceId: '…'` lines, by the app that printed them.
    const traces = (app: string) =>
      new Set([...output.matchAll(new RegExp(`^${app} +\\|   traceId: '([0-9a-f]{32})'`, 'gm'))].map(m => m[1]));
    const shared = [...traces('orders')].filter(id => traces('gateway').has(id));
    expect(shared.length).toBeGreaterThanOrEqual(5);
    // The service's SERVER spans continue a parent from the other process.
    expect(output).toMatch(/^orders +\| {5}isRemote: true/m);
    expect(output).toMatch(/^gateway +\| {3}name: 'GET \/orders\/:id'/m);
  });

  it('--instances 2: a rolling restart of two orders instances under calls, none failed', async () => {
    const demo = new AppProcess({
      label: 'demo',
      script: join(dist, 'demo/main.js'),
      args: ['--once', '--instances', '2', '--port', '0', '--state-dir', join(stateDir, 'instances')],
      env: {},
    });
    running.push(demo);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([demo.whenExited(), new Promise(r => (timer = setTimeout(() => r('timed out'), 90_000)))]);
    clearTimeout(timer);
    const output = demo.lines.join('\n');
    expect({ code, output }).toEqual({ code: 0, output: expect.stringMatching(/\d+ calls during the rolling restart, 0 failed/) });
    // Both instances answered, and the calls were many.
    const calls = Number(/(\d+) calls during the rolling restart/.exec(output)?.[1]);
    expect(calls).toBeGreaterThan(20);
    expect(output).toMatch(/answered by [^:]+: \d+, [^:]+: \d+/);
  }, 120_000);
});
