import { join, relative, resolve } from 'path';
import { AppProcess } from './app-process';
import { DEMO_USAGE, DemoOptions, parseDemoOptions } from './demo-options';
import { displayLine } from './nest-log-line';
import { RestartTarget, freeUdpPort, rollingRestart } from './rolling-restart';
import { runScenario } from './scenario';

/** The compiled apps sit next to this one, in sample-app/dist/. */
const ORDERS_MAIN = join(__dirname, '../orders/main.js');
const GATEWAY_MAIN = join(__dirname, '../gateway/main.js');
/** The service's key and ticket files by default (sample-app/.iroh/): its identity survives restarts. */
const DEFAULT_STATE_DIR = join(__dirname, '../../.iroh');
const START_TIMEOUT_MS = 30_000;

/** The orders instances (started first) and the gateways. */
const services: AppProcess[] = [];
const gateways: AppProcess[] = [];
/** Set by Ctrl-C (or SIGTERM): the apps are being stopped on purpose. */
let stopping = false;
/** Width of the widest label, so that the apps' output lines up. */
let labelWidth = 0;

function say(line: string): void {
  console.log(`[demo] ${line}`);
}

/** A path as the user would type it from here. */
function shown(path: string): string {
  return relative(process.cwd(), path) || '.';
}

function startApp(label: string, script: string, env: Record<string, string>, options: DemoOptions, group: AppProcess[]): AppProcess {
  const app = new AppProcess({
    label,
    script,
    env,
    onLine: line => {
      const text = displayLine(line, options.verbose);
      if (text !== null) console.log(`${label.padEnd(labelWidth)} | ${text}`);
    },
  });
  group.push(app);
  return app;
}

async function stopAll(): Promise<void> {
  // Gateways first, so that none of them reports the service going away.
  await Promise.all(gateways.map(app => app.stop()));
  await Promise.all(services.map(app => app.stop()));
}

/** One orders instance: its label, and the environment it is started (and restarted) with. */
interface OrdersInstance {
  label: string;
  env: Record<string, string>;
  ticketFile: string;
}

/** What every app is started with: `--trace` turns on their console span exporter. */
function commonEnv(options: DemoOptions): Record<string, string> {
  return { OTEL_CONSOLE: options.trace ? '1' : '' };
}

async function ordersInstances(options: DemoOptions, stateDir: string): Promise<OrdersInstance[]> {
  const common = { ...commonEnv(options), TRANSPORT: options.transport, IROH_RELAY: 'disabled', TCP_HOST: '127.0.0.1', TCP_PORT: '0' };
  if (options.instances === 1) {
    const ticketFile = shown(join(stateDir, 'orders.ticket'));
    const env = { ...common, IROH_KEY_FILE: shown(join(stateDir, 'orders.key')), IROH_TICKET_FILE: ticketFile, IROH_BIND: '127.0.0.1:0' };
    return [{ label: 'orders', env, ticketFile }];
  }
  const instances: OrdersInstance[] = [];
  for (let i = 1; i <= options.instances; i++) {
    const ticketFile = shown(join(stateDir, `orders-${i}.ticket`));
    // A fixed port and key file per instance: restarted, it is the same peer at the same address.
    const env = {
      ...common,
      IROH_KEY_FILE: shown(join(stateDir, `orders-${i}.key`)),
      IROH_TICKET_FILE: ticketFile,
      IROH_BIND: `127.0.0.1:${await freeUdpPort()}`,
    };
    instances.push({ label: `orders-${i}`, env, ticketFile });
  }
  return instances;
}

/** Starts an orders instance and waits until it is ready; resolves with its iroh endpoint id. */
async function startOrders(instance: OrdersInstance, options: DemoOptions): Promise<{ app: AppProcess; endpointId: string | null }> {
  const app = startApp(instance.label, ORDERS_MAIN, instance.env, options, services);
  await app.waitFor(/Orders service ready/, START_TIMEOUT_MS);
  const id = app.lines.join('\n').match(/iroh endpoint id: ([0-9a-f]{64})/);
  return { app, endpointId: id?.[1] ?? null };
}

async function run(options: DemoOptions): Promise<number> {
  const transports = options.transport === 'both' ? (['iroh', 'tcp'] as const) : [options.transport];
  const gatewayLabel = (transport: string) => (transports.length > 1 ? `gateway-${transport}` : 'gateway');
  const stateDir = options.stateDir ? resolve(options.stateDir) : DEFAULT_STATE_DIR;
  const instances = await ordersInstances(options, stateDir);
  labelWidth = Math.max(...instances.map(i => i.label.length), ...transports.map(t => gatewayLabel(t).length));
  const plural = instances.length > 1 ? ` (${instances.length} instances)` : '';
  say(`Starting the orders service${plural} (TRANSPORT=${options.transport}, iroh relays disabled: offline, loopback only)`);
  const endpointIds = new Map<string, string>();
  let orders: AppProcess | null = null;
  for (const instance of instances) {
    const started = await startOrders(instance, options);
    orders ??= started.app;
    if (started.endpointId) endpointIds.set(started.endpointId, instance.label);
  }
  const tcp = options.transport === 'iroh' ? null : (await orders!.waitFor(/TCP listening on (\S+):(\d+)/, 1000)).slice(1);
  const ticketFiles = instances.map(i => i.ticketFile).join(',');

  const urls: Array<{ transport: string; url: string }> = [];
  for (const [i, transport] of transports.entries()) {
    const label = gatewayLabel(transport);
    say(
      `Starting the ${label} (TRANSPORT=${transport}, ` +
        (transport === 'iroh'
          ? `${instances.length > 1 ? 'tickets' : 'ticket'} read from ${instances.map(i => i.ticketFile).join(', ')})`
          : `service at ${tcp![0]}:${tcp![1]})`),
    );
    const gateway = startApp(
      label,
      GATEWAY_MAIN,
      {
        ...commonEnv(options),
        TRANSPORT: transport,
        HOST: '127.0.0.1',
        PORT: String(options.port === 0 ? 0 : options.port + i),
        ORDERS_TICKET: '',
        ORDERS_TICKET_FILE: ticketFiles,
        IROH_RELAY: 'disabled',
        IROH_BIND: '127.0.0.1:0',
        ORDERS_TCP_HOST: tcp?.[0] ?? '',
        ORDERS_TCP_PORT: tcp?.[1] ?? '',
      },
      options,
      gateways,
    );
    const [, url] = await gateway.waitFor(/Gateway listening on (http:\/\/\S+?),/, START_TIMEOUT_MS);
    urls.push({ transport, url });
  }

  let failed = 0;
  for (const { transport, url } of urls) {
    say(`Calling the gateway at ${url} (orders over ${transport}):`);
    const result = await runScenario(url, transport, line => console.log(line), { oneInstance: instances.length === 1 });
    failed += result.failed;
    say(
      result.failed === 0
        ? `${result.calls} calls over ${transport}, all answered as expected.`
        : `${result.calls} calls over ${transport}, ${result.failed} FAILED.`,
    );
  }
  if (instances.length > 1) {
    say('Orders live in the memory of the instance that took them: with several instances the calls above');
    say('did not read a placed order back, since the next call may go to another instance.');
    failed += await restartUnderCalls(urls[0].url, instances, endpointIds, options);
  }
  if (options.once) return failed === 0 ? 0 : 1;

  const first = urls[0].url;
  say(`Running. Try: curl ${first}/orders   curl ${first}/health   (Ctrl-C stops everything)`);
  const exitedApp = await Promise.race([...services, ...gateways].map(app => app.whenExited().then(() => app)));
  // Ctrl-C reaches the apps too (same process group): they may end before stopAll asks them.
  if (stopping) return 0;
  say(`${exitedApp.label} stopped unexpectedly.`);
  return 1;
}

/** Restarts the instances one after the other while calling the gateway; resolves with the calls that failed. */
async function restartUnderCalls(
  url: string,
  instances: OrdersInstance[],
  endpointIds: Map<string, string>,
  options: DemoOptions,
): Promise<number> {
  say(`Rolling restart of the ${instances.length} orders instances while calling ${url}/status without pause:`);
  const targets: RestartTarget[] = instances.map(instance => ({
    label: instance.label,
    restart: async () => {
      const running = services.find(app => app.label === instance.label && app.running);
      await running?.stop();
      const started = Date.now();
      await startOrders(instance, options);
      say(`${instance.label} is back (ready ${Date.now() - started} ms after it was started again)`);
    },
  }));
  const result = await rollingRestart(url, targets, say);
  const answered = [...result.answeredBy].map(([id, n]) => `${endpointIds.get(id) ?? id.slice(0, 8)}: ${n}`).join(', ');
  say(`${result.calls} calls during the rolling restart, ${result.failed} failed (answered by ${answered}).`);
  for (const failure of result.failures) say(`  ${failure}`);
  return result.failed;
}

async function main(): Promise<void> {
  let options: DemoOptions;
  try {
    options = parseDemoOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`demo: ${(err as Error).message}\n\n${DEMO_USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(DEMO_USAGE);
    return;
  }
  const stopOnSignal = () => {
    if (stopping) return;
    stopping = true;
    say('Stopping…');
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', stopOnSignal);
  process.on('SIGTERM', stopOnSignal);

  let code: number;
  try {
    code = await run(options);
  } catch (err) {
    say(`${(err as Error).message}`);
    code = 1;
  }
  if (stopping) return;
  await stopAll();
  if (options.once || code !== 0) say(code === 0 ? 'Done.' : 'Failed.');
  process.exit(code);
}

void main();
