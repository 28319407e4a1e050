import { ChildProcess, spawn } from 'child_process';
import { join } from 'path';

const here = __dirname;
const nestMajor = (globalThis as any).NEST_MAJOR ?? 12;

/** Env that makes a child process use the same Nest major as the suite. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (nestMajor === 11) env.NEST_MODULES = join(here, '../nest11/node_modules');
  return env;
}

export interface ServerProcess {
  child: ChildProcess;
  ticket: string;
  /** Output so far, for failure messages. */
  output(): string;
}

/** Starts test/support/server-process.ts in its own Node process; resolves with its ticket. */
export function startServerProcess(env: Record<string, string> = {}, ms = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['-r', join(here, 'ts-register.js'), join(here, 'server-process.ts')], {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', d => (out += d));
  child.stderr?.on('data', d => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server process gave no ticket within ${ms} ms: ${out}`));
    }, ms);
    const onData = () => {
      const match = /TICKET (\S+)/.exec(out);
      if (!match) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve({ child, ticket: match[1], output: () => out });
    };
    child.stdout?.on('data', onData);
    child.once('exit', code => {
      clearTimeout(timer);
      reject(new Error(`server process exited with ${code}: ${out}`));
    });
  });
}

/** Kills a process and waits until it is gone. */
export function killProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise(resolve => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
