// Network namespaces joined by veth pairs, for tests that put a server and a client on
// different (virtual) hosts with an impairing UDP relay between them:
//
//   ns "srv"  veth 10.213.77.2/30  <->  10.213.77.1/30 veth  ns "mid"  veth 10.213.77.5/30  <->  10.213.77.6/30 veth  ns "cli"
//
// The three namespaces have no routes to each other beyond their own links and the middle
// one does not forward (ip_forward stays 0), so every packet between client and server
// passes through the relay process in "mid". Needs root and iproute2 (`ip`).
import { ChildProcess, execFileSync, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import { join } from 'path';

/** Namespace names are `nif-<pid>-<hex>-<role>`; the pid lets a later run remove leftovers. */
const PREFIX = 'nif-';

export const ADDRESSES = {
  server: '10.213.77.2',
  relayServerSide: '10.213.77.1',
  relayClientSide: '10.213.77.5',
  client: '10.213.77.6',
};

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

function errorText(err: unknown): string {
  const e = err as { stderr?: Buffer | string; message?: string };
  const stderr = e?.stderr ? String(e.stderr).trim() : '';
  return stderr || e?.message || String(err);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes namespaces left by earlier runs whose process is gone (a run killed before its cleanup). */
export function removeStaleNamespaces(): void {
  let list: string;
  try {
    list = ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.trim().split(/\s+/)[0];
    const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(name ?? '');
    if (!match || pidAlive(Number(match[1]))) continue;
    try {
      ip(['netns', 'del', name]);
    } catch {
      // Someone else removed it.
    }
  }
}

/**
 * Why namespaces cannot be used here, or null when they can: tries, synchronously, to create
 * a namespace with a veth pair in it and removes it again.
 */
export function namespacesUnavailable(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return `network namespaces need root (uid is ${process.getuid()})`;
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the `ip` command (Debian package iproute2) is not installed';
  }
  const probe = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}-probe`;
  try {
    ip(['netns', 'add', probe]);
  } catch (err) {
    return `\`ip netns add\` failed: ${errorText(err)}`;
  }
  try {
    ip(['-n', probe, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    ip(['-n', probe, 'link', 'set', 'p0', 'up']);
    return null;
  } catch (err) {
    return `creating a veth pair failed: ${errorText(err)}`;
  } finally {
    try {
      ip(['netns', 'del', probe]);
    } catch {
      // Reported by the next run's removeStaleNamespaces at worst.
    }
  }
}

export interface Topology {
  server: string;
  relay: string;
  client: string;
  /** Removes the namespaces (their veths go with them). Idempotent. */
  destroy(): void;
}

/** Creates the three namespaces and their links; on failure removes what it created. */
export function createTopology(): Topology {
  removeStaleNamespaces();
  const tag = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const names = { server: `${tag}-srv`, relay: `${tag}-mid`, client: `${tag}-cli` };
  const created: string[] = [];
  const destroy = () => {
    while (created.length > 0) {
      const name = created.pop()!;
      try {
        ip(['netns', 'del', name]);
      } catch {
        // Already gone.
      }
    }
  };
  try {
    for (const name of Object.values(names)) {
      ip(['netns', 'add', name]);
      created.push(name);
      ip(['-n', name, 'link', 'set', 'lo', 'up']);
    }
    // The veth pairs are created inside the namespaces, so their names never meet in the
    // root namespace and concurrent runs cannot collide.
    ip(['-n', names.server, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'tosrv', 'netns', names.relay]);
    ip(['-n', names.client, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'tocli', 'netns', names.relay]);
    const links: Array<[string, string, string]> = [
      [names.server, 'eth0', `${ADDRESSES.server}/30`],
      [names.relay, 'tosrv', `${ADDRESSES.relayServerSide}/30`],
      [names.relay, 'tocli', `${ADDRESSES.relayClientSide}/30`],
      [names.client, 'eth0', `${ADDRESSES.client}/30`],
    ];
    for (const [ns, dev, addr] of links) {
      ip(['-n', ns, 'addr', 'add', addr, 'dev', dev]);
      ip(['-n', ns, 'link', 'set', dev, 'up']);
    }
  } catch (err) {
    destroy();
    throw new Error(`setting up network namespaces failed: ${errorText(err)}`, { cause: err });
  }
  return { ...names, destroy };
}

/** Env that makes a child process use the same Nest major as the jest suite. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (((globalThis as any).NEST_MAJOR ?? 12) === 11) env.NEST_MODULES = join(__dirname, '../nest11/node_modules');
  return env;
}

/** Runs `node [args]` inside namespace `ns` (`ip netns exec` execs, so the child is node itself). */
export function spawnInNamespace(ns: string, nodeArgs: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs], {
    env: childEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A child process speaking in lines: waits for lines, writes lines, keeps its output for failure messages. */
export class LineProcess {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiters: Array<{ test: (line: string) => boolean; resolve: (line: string) => void }> = [];
  private output = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.output += chunk;
      this.buffer += chunk;
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        this.onLine(line);
      }
    });
    child.stderr!.on('data', chunk => (this.output += chunk));
    child.stdin!.on('error', () => undefined);
    this.exited = new Promise(resolve => child.once('exit', code => resolve(code)));
  }

  private onLine(line: string): void {
    const index = this.waiters.findIndex(w => w.test(line));
    if (index < 0) {
      this.lines.push(line);
      return;
    }
    const [waiter] = this.waiters.splice(index, 1);
    waiter.resolve(line);
  }

  /** The first line (already seen or still to come) that passes `test`, or an error after `ms`. */
  waitFor(test: (line: string) => boolean, ms: number, what: string): Promise<string> {
    const seen = this.lines.findIndex(test);
    if (seen >= 0) return Promise.resolve(this.lines.splice(seen, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== waiter);
        reject(new Error(`${this.name}: no ${what} within ${ms} ms; output so far:\n${this.tail()}`));
      }, ms);
      this.waiters.push(waiter);
      void this.exited.then(code => {
        if (!this.waiters.includes(waiter)) return;
        this.waiters = this.waiters.filter(w => w !== waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before ${what}; output:\n${this.tail()}`));
      });
    });
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  tail(chars = 4000): string {
    return this.output.slice(-chars);
  }

  /** SIGKILL and wait for the exit (at most 5 s). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise(r => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }
}

/**
 * A ticket for the endpoint of `serverTicket` that names only `via` (`host:port`, the relay)
 * as its address: a client given it reaches the server through the relay and nothing else.
 */
export function ticketVia(serverTicket: string, via: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only where the namespaces exist
  const iroh = require('@number0/iroh/index.js');
  const id = iroh.EndpointTicket.fromString(serverTicket).endpointAddr().id().toString();
  const addr = new iroh.EndpointAddr(iroh.EndpointId.fromString(id), null, [via]);
  return iroh.EndpointTicket.fromAddr(addr).toString();
}
