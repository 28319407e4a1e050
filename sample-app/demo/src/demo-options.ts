export type DemoTransport = 'iroh' | 'tcp' | 'both';

export interface DemoOptions {
  /** Exit after the calls (0 when all answered as expected) instead of running until Ctrl-C. */
  once: boolean;
  transport: DemoTransport;
  /** HTTP port of the (first) gateway; 0 for any free port. */
  port: number;
  /** Also show Nest's start-up messages. */
  verbose: boolean;
  /** Folder of the service's key and ticket files; null: sample-app/.iroh. */
  stateDir: string | null;
  /** Instances of the orders service (iroh only); with more than one, a rolling restart under calls follows. */
  instances: number;
  /** The apps print their OpenTelemetry spans (OTEL_CONSOLE=1 in their environment). */
  trace: boolean;
  help: boolean;
}

export const DEMO_USAGE = `Usage: npm start -- [--once] [--transport iroh|tcp|both] [--instances 1] [--port 3000] [--state-dir dir] [--trace] [--verbose]

Starts the orders service and the HTTP gateway as separate processes on this machine,
offline (iroh relays disabled), calls the gateway and prints what happened.
  --once        exit after the calls: 0 if all answered as expected, 1 otherwise
  --transport   iroh (default, or $TRANSPORT), tcp, or both: the service serves iroh and
                TCP at once and one gateway calls it over each
  --instances   instances of the orders service (iroh only, default 1); the gateway balances
                its calls over them. With 2 or more, the demo then restarts them one after
                the other while calling the gateway, and counts the calls that failed
  --port        HTTP port of the gateway (the second gateway of "both" takes the next one);
                0 picks free ports
  --state-dir   folder of the service's key and ticket files (default sample-app/.iroh)
  --trace       the apps print their OpenTelemetry spans to the console (as OTEL_CONSOLE=1):
                one trace per HTTP call, across the gateway and the service
  --verbose     also show Nest's start-up messages`;

export function parseDemoOptions(args: string[], env: NodeJS.ProcessEnv = process.env): DemoOptions {
  const options: DemoOptions = {
    once: false,
    transport: 'iroh',
    port: 3000,
    verbose: false,
    stateDir: null,
    instances: 1,
    trace: env.OTEL_CONSOLE === '1',
    help: false,
  };
  const transport = env.TRANSPORT ?? 'iroh';
  options.transport = transportOf(transport, 'TRANSPORT');
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--once') options.once = true;
    else if (arg === '--verbose') options.verbose = true;
    else if (arg === '--trace') options.trace = true;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--transport') options.transport = transportOf(value(), '--transport');
    else if (arg === '--port') options.port = portOf(value());
    else if (arg === '--state-dir') options.stateDir = value();
    else if (arg === '--instances') options.instances = instancesOf(value());
    else throw new Error(`unknown option ${arg}`);
  }
  if (options.instances > 1 && options.transport !== 'iroh') {
    throw new Error('--instances needs --transport iroh: the gateway balances over iroh peers');
  }
  return options;
}

function transportOf(value: string, name: string): DemoTransport {
  if (value !== 'iroh' && value !== 'tcp' && value !== 'both') {
    throw new Error(`${name} must be iroh, tcp or both (got ${JSON.stringify(value)})`);
  }
  return value;
}

function instancesOf(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`--instances must be a number from 1 to 9 (got ${value})`);
  return n;
}

function portOf(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65534) throw new Error(`--port must be a port number (got ${value})`);
  return port;
}
