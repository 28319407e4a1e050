'use strict';
/**
 * Raw binding server. `node raw.js stream`: one bi stream per request; `node raw.js framed`: one
 * long-lived stream per connection carrying length-prefixed frames, replies written in batches.
 */
const { serve, hold } = require('./control');
const { iroh, ALPN, MAX_MESSAGE, Op, bindEndpoint, toArray, FrameReader, BatchWriter, readLoop } = require('../raw');

const mode = process.argv[2] === 'framed' ? 'framed' : 'stream';

function itemPayload(i) {
  return Buffer.from(String(i));
}

/** Stream per request: request `[op, ...payload]` read to end, reply written, stream finished. */
async function handleRequestStream(bi) {
  const send = bi.send;
  const request = await bi.recv.readToEnd(MAX_MESSAGE);
  switch (request[0]) {
    case Op.ECHO:
      // The request array goes back as it came (op byte included): no conversion at all.
      await send.writeAll(request);
      break;
    case Op.RANGE: {
      // Items as u32-length-prefixed frames, one writeAll each (no batching).
      const n = Buffer.from(request.slice(1, 5)).readUInt32LE(0);
      for (let i = 0; i < n; i++) {
        const payload = itemPayload(i);
        const frame = Buffer.allocUnsafe(4 + payload.length);
        frame.writeUInt32LE(payload.length, 0);
        payload.copy(frame, 4);
        await send.writeAll(toArray([frame], frame.length));
      }
      break;
    }
    case Op.HOLD:
      await hold();
      await send.writeAll([Op.REPLY]);
      break;
  }
  await send.finish();
}

/** One framed stream: requests in, replies batched out. */
async function handleFramedStream(bi) {
  const writer = new BatchWriter(bi.send);
  const reader = new FrameReader((id, op, payload) => {
    switch (op) {
      case Op.ECHO:
        writer.write(id, Op.REPLY, payload);
        break;
      case Op.RANGE: {
        const n = payload.readUInt32LE(0);
        for (let i = 0; i < n; i++) writer.write(id, Op.ITEM, itemPayload(i));
        writer.write(id, Op.END, null);
        break;
      }
      case Op.HOLD:
        hold().then(() => writer.write(id, Op.REPLY, null));
        break;
    }
  });
  await readLoop(bi.recv, chunk => reader.push(chunk));
  await bi.send.finish();
}

async function handleConnection(incoming) {
  const connection = await (await incoming.accept()).connect();
  // Let the "stream per request" client keep many requests (and held requests) open at once.
  connection.setMaxConcurrentBiStreams(4096n);
  for (;;) {
    let bi;
    try {
      bi = await connection.acceptBi();
    } catch {
      return; // connection closed
    }
    const handle = mode === 'framed' ? handleFramedStream : handleRequestStream;
    handle(bi).catch(() => undefined);
  }
}

serve(`raw-${mode}`, async () => {
  const endpoint = await bindEndpoint(ALPN);
  (async () => {
    for (;;) {
      const incoming = await endpoint.acceptNext();
      if (!incoming) return;
      handleConnection(incoming).catch(() => undefined);
    }
  })().catch(() => undefined);
  return {
    address: iroh.EndpointTicket.fromAddr(endpoint.addr()).toString(),
    close: () => endpoint.close(),
  };
});
