import { execFile } from 'child_process';
import { join } from 'path';
import { freeUdpPort } from '../support/ports';

/** Runs test/support/close-and-exit.ts in a process of its own; resolves with its exit code and output. */
function runCloseAndExit(bindAddr: string): Promise<{ code: number | null; stdout: string }> {
  const support = join(__dirname, '../support');
  return new Promise(resolve => {
    const child = execFile(
      process.execPath,
      ['-r', join(support, 'ts-register.js'), join(support, 'close-and-exit.ts'), bindAddr],
      { timeout: 30_000, env: { ...process.env } },
      (_err, stdout) => resolve({ code: child.exitCode, stdout }),
    );
  });
}

describe('await app.close() in a process that nothing else keeps alive', () => {
  it('returns, and the code after it runs (port 0)', async () => {
    await expect(runCloseAndExit('127.0.0.1:0')).resolves.toEqual({ code: 3, stdout: 'after close\n' });
  });

  it('returns after releasing a fixed port', async () => {
    const port = await freeUdpPort();
    await expect(runCloseAndExit(`127.0.0.1:${port}`)).resolves.toEqual({ code: 3, stdout: 'after close\n' });
  });
});
