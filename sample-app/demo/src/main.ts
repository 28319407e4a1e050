import { join, relative, resolve } from 'path';
import { AppProcess } from './app-process';
import { DEMO_USAGE, DemoOptions, parseDemoOptions } from './demo-options';
import { displayLine } from './nest-log-line';
import { runScenario } from './scenario';

/** The compiled apps sit next to this one, in sample-app/dist/. */
const ORDERS_MAIN = join(__dirname, '../orders/main.js');
const GATEWAY_MAIN = join(__dirname, '../gateway/main.js');
/** The service's key and ticket files by default (sample-app/.iroh/): its identity survives restarts. */
const DEFAULT_STATE_DIR = join(__dirname, '../../.iroh');
const START_TIMEOUT_MS = 30_000;

const apps: AppProcess[] = [];
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

function startApp(label: string, script: string, env: Record<string, string>, options: DemoOptions): AppProcess {
  const app = new AppProcess({
    label,
    script,
    env,
    onLine: line => {
      const text = displayLine(line, options.verbose);
      if (text !== null) console.log(`${label.padEnd(labelWidth)} | ${text}`);
    },
  });
  apps.push(app);
  return app;
}

async function stopAll(): Promise<void> {
  // Gateways first, so that none of them reports the service going away.
  await Promise.all(apps.slice(1).map(app => app.stop()));
  await apps[0]?.stop();
}

async function run(options: DemoOptions): Promise<number> {
  const transports = options.transport === 'both' ? (['iroh', 'tcp'] as const) : [options.transport];
  const gatewayLabel = (transport: string) => (transports.length > 1 ? `gateway-${transport}` : 'gateway');
  labelWidth = Math.max('orders'.length, ...transports.map(t => gatewayLabel(t).length));
  const stateDir = options.stateDir ? resolve(options.stateDir) : DEFAULT_STATE_DIR;
  const ticketFile = shown(join(stateDir, 'orders.ticket'));
  say(`Starting the orders service (TRANSPORT=${options.transport}, iroh relays disabled: offline, loopback only)`);
  const orders = startApp('orders', ORDERS_MAIN, {
    TRANSPORT: options.transport,
    IROH_KEY_FILE: shown(join(stateDir, 'orders.key')),
    IROH_TICKET_FILE: ticketFile,
    IROH_RELAY: 'disabled',
    IROH_BIND: '127.0.0.1:0',
    TCP_HOST: '127.0.0.1',
    TCP_PORT: '0',
  }, options);
  await orders.waitFor(/Orders service ready/, START_TIMEOUT_MS);
  const tcp = options.transport === 'iroh' ? null : (await orders.waitFor(/TCP listening on (\S+):(\d+)/, 1000)).slice(1);

  const gateways: Array<{ transport: string; url: string }> = [];
  for (const [i, transport] of transports.entries()) {
    const label = gatewayLabel(transport);
    say(
      `Starting the ${label} (TRANSPORT=${transport}, ` +
        (transport === 'iroh' ? `ticket read from ${ticketFile})` : `service at ${tcp![0]}:${tcp![1]})`),
    );
    const gateway = startApp(label, GATEWAY_MAIN, {
      TRANSPORT: transport,
      HOST: '127.0.0.1',
      PORT: String(options.port === 0 ? 0 : options.port + i),
      ORDERS_TICKET: '',
      ORDERS_TICKET_FILE: ticketFile,
      IROH_RELAY: 'disabled',
      IROH_BIND: '127.0.0.1:0',
      ORDERS_TCP_HOST: tcp?.[0] ?? '',
      ORDERS_TCP_PORT: tcp?.[1] ?? '',
    }, options);
    const [, url] = await gateway.waitFor(/Gateway listening on (http:\/\/\S+?),/, START_TIMEOUT_MS);
    gateways.push({ transport, url });
  }

  let failed = 0;
  for (const { transport, url } of gateways) {
    say(`Calling the gateway at ${url} (orders over ${transport}):`);
    const result = await runScenario(url, transport, line => console.log(line));
    failed += result.failed;
    say(
      result.failed === 0
        ? `${result.calls} calls over ${transport}, all answered as expected.`
        : `${result.calls} calls over ${transport}, ${result.failed} FAILED.`,
    );
  }
  if (options.once) return failed === 0 ? 0 : 1;

  const first = gateways[0].url;
  say(`Running. Try: curl ${first}/orders   curl ${first}/health   (Ctrl-C stops everything)`);
  const exitedApp = await Promise.race(apps.map(app => app.whenExited().then(() => app)));
  // Ctrl-C reaches the apps too (same process group): they may end before stopAll asks them.
  if (stopping) return 0;
  say(`${exitedApp.label} stopped unexpectedly.`);
  return 1;
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
