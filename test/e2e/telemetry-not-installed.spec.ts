import { spawn } from 'child_process';
import { join } from 'path';
import { ClientProxy } from '@nestjs/microservices';

jest.setTimeout(60_000);

const hasDispatchHook = typeof (ClientProxy.prototype as any).setOnDispatchHook === 'function';

/** Runs test/support/no-otel-process.ts and returns what it printed. */
function runWithoutOpenTelemetry(): Promise<any> {
  const support = join(__dirname, '../support');
  const env: NodeJS.ProcessEnv = { ...process.env };
  if ((globalThis as any).NEST_MAJOR === 11) env.NEST_MODULES = join(support, '../nest11/node_modules');
  const child = spawn(process.execPath, ['-r', join(support, 'ts-register.js'), join(support, 'no-otel-process.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', d => (out += d));
  child.stderr.on('data', d => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.once('exit', code => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`exited with ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() as string));
    });
  });
}

describe('without @opentelemetry/api installed', () => {
  it('serves and calls as usual, loads nothing of OpenTelemetry, and still hides the reserved metadata key', async () => {
    const result = await runWithoutOpenTelemetry();
    expect(result.sum).toBe(6);
    expect(result.events).toEqual([{ id: 1 }]);
    // Asked for once (by the first listen or connect, not when a client is constructed), found missing, never asked again.
    expect(result.askedAtConstruction).toBe(0);
    expect(result.asked).toBe(1);
    expect(result.loaded).toEqual([]);
    // A traced caller's key never reaches a handler, even on a server without OpenTelemetry.
    if (hasDispatchHook) expect(result.metadata).toEqual({ tenant: 'acme' });
  });
});
