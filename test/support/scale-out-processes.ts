import { ChildProcess, spawn } from 'child_process';
import { join } from 'path';
import { firstValueFrom, timeout } from 'rxjs';
import { ClientProxy } from '@nestjs/microservices';

const here = __dirname;
const nestMajor = (globalThis as any).NEST_MAJOR ?? 12;

/** One instance of the scale-out service (test/support/scale-out-server.ts) in its own process. */
export interface Instance {
  name: string;
  env: Record<string, string>;
  child: ChildProcess;
  ticket: string;
  /** When it printed its ticket (it was listening). */
  readyAt: number;
}

/** Everything every instance printed, across restarts: what a test checks nothing ran twice with. */
export class InstanceOutputs {
  private readonly chunks: string[] = [];

  add(child: ChildProcess): () => string {
    let out = '';
    const record = (d: Buffer) => {
      out += String(d);
      this.chunks.push(String(d));
    };
    child.stdout?.on('data', record);
    child.stderr?.on('data', (d: Buffer) => (out += String(d)));
    return () => out;
  }

  /** Request ids by how many times they ran, over all instances. */
  runs(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const match of this.chunks.join('').matchAll(/^RAN (\S+)$/gm)) counts.set(match[1], (counts.get(match[1]) ?? 0) + 1);
    return counts;
  }

  /** Lines matching `pattern` over all instances. */
  lines(pattern: RegExp): string[] {
    return this.chunks
      .join('')
      .split('\n')
      .filter(line => pattern.test(line));
  }
}

/** Starts an instance; resolves once it listens. */
export function startInstance(name: string, env: Record<string, string>, outputs: InstanceOutputs, ms = 30_000): Promise<Instance> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, INSTANCE: name };
  if (nestMajor === 11) childEnv.NEST_MODULES = join(here, '../nest11/node_modules');
  const child = spawn(process.execPath, ['-r', join(here, 'ts-register.js'), join(here, 'scale-out-server.ts')], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = outputs.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`instance ${name} gave no ticket within ${ms} ms: ${output()}`));
    }, ms);
    const onData = () => {
      const match = /TICKET (\S+)/.exec(output());
      if (!match) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      resolve({ name, env, child, ticket: match[1], readyAt: Date.now() });
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`instance ${name} exited with ${code}: ${output()}`));
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Sends `signal` and waits until the process is gone. */
export function stopInstance(instance: Instance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const { child } = instance;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise(resolve => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export interface LoadResult {
  id: string;
  /** The instance that answered, or undefined when the request failed. */
  instance?: string;
  error?: { name?: string; code?: string; message?: string };
  sentAt: number;
  endedAt: number;
}

/**
 * Requests sent by `concurrency` workers, each to the `work` handler (which takes `ms`), one
 * after the other (or `pauseMs` apart), until stop().
 */
export class SteadyLoad {
  readonly results: LoadResult[] = [];
  private running = false;
  private workers: Promise<void>[] = [];
  private next = 0;

  constructor(
    private readonly client: ClientProxy,
    private readonly options: { concurrency: number; ms: number; tag: string; limitMs?: number; pauseMs?: number },
  ) {}

  start(): this {
    this.running = true;
    this.workers = Array.from({ length: this.options.concurrency }, () => this.work());
    return this;
  }

  /** Stops sending and waits for the requests in flight. */
  async stop(): Promise<LoadResult[]> {
    this.running = false;
    await Promise.all(this.workers);
    return this.results;
  }

  failures(): LoadResult[] {
    return this.results.filter(r => r.error);
  }

  private async work(): Promise<void> {
    while (this.running) {
      const id = `${this.options.tag}-${this.next++}`;
      const sentAt = Date.now();
      try {
        const reply = await firstValueFrom(
          this.client
            .send<{ id: string; instance: string }>('work', { id, ms: this.options.ms })
            .pipe(timeout(this.options.limitMs ?? 20_000)),
        );
        if (reply.id !== id) throw new Error(`reply for ${reply.id} came to ${id}`);
        this.results.push({ id, instance: reply.instance, sentAt, endedAt: Date.now() });
        if (this.options.pauseMs) await new Promise(resolve => setTimeout(resolve, this.options.pauseMs));
      } catch (err) {
        const e = err as { name?: string; code?: string; message?: string };
        this.results.push({ id, error: { name: e?.name, code: e?.code, message: e?.message }, sentAt, endedAt: Date.now() });
        // A failing client must not spin.
        await new Promise(resolve => setTimeout(resolve, 5));
      }
    }
  }
}
