// A server and a client in a process where `@opentelemetry/*` cannot be resolved, as in an
// application that does not install it. Prints one JSON line: the replies, the metadata the
// handler saw, how often a package of that scope was asked for, and what got loaded.
/* eslint-disable @typescript-eslint/no-require-imports */
const Module = require('module') as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
let asked = 0;
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request: string, ...rest: unknown[]) {
  if (request.startsWith('@opentelemetry/')) {
    asked++;
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};

async function main(): Promise<void> {
  require('reflect-metadata');
  const { call, irohClient, startIrohServer } = require('./harness') as typeof import('./harness');
  const { MathModule, observed } = require('./math.app') as typeof import('./math.app');
  const { ClientIroh } = require('../../src') as typeof import('../../src');
  // Constructing a client loads nothing: the API is asked for at listen and connect.
  new ClientIroh({ relayMode: 'disabled', peer: '0'.repeat(64) });
  const askedAtConstruction = asked;
  const running = await startIrohServer(MathModule);
  const client = irohClient(running.ticket);
  (client as any).setOnDispatchHook?.((packet: { metadata?: unknown }) => {
    packet.metadata = { tenant: 'acme', 'iroh-trace-context': { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } };
  });
  try {
    const sum = await call(client, 'sum', [1, 2, 3]);
    const metadata = await call(client, 'metadata', {});
    await new Promise<void>((done, fail) => client.emit('item.created', { id: 1 }).subscribe({ complete: done, error: fail }));
    while (observed.events.length === 0) await new Promise(r => setTimeout(r, 10));
    const loaded = Object.keys(require.cache).filter(path => path.includes('@opentelemetry'));
    process.stdout.write(`${JSON.stringify({ sum, metadata, events: observed.events, askedAtConstruction, asked, loaded })}\n`);
  } finally {
    await client.close();
    await running.app.close();
  }
}

main().catch(err => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
