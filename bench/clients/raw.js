'use strict';
/** Raw binding client adapters: `stream` (one bi stream per request) and `framed` (one batched stream). */
const { iroh, ALPN, MAX_MESSAGE, Op, bindEndpoint, toArray, fromArray, FrameReader, BatchWriter, readLoop } = require('../raw');

async function dial(ticket) {
  const endpoint = await bindEndpoint();
  const connection = await endpoint.connect(iroh.EndpointTicket.fromString(ticket).endpointAddr(), ALPN);
  return { endpoint, connection };
}

async function hangUp({ endpoint, connection }) {
  try {
    connection.close(0n, []);
  } catch {
    // already closed
  }
  await endpoint.close();
}

function wireOf(connection) {
  const s = connection.stats();
  return { tx: s.udpTxBytes, rx: s.udpRxBytes, txPackets: s.udpTxDatagrams, rxPackets: s.udpRxDatagrams };
}

/** One request on its own stream; resolves with the reply as a Buffer. */
async function streamRequest(connection, op, payload) {
  const bi = await connection.openBi();
  const request = new Array(1 + payload.length);
  request[0] = op;
  for (let i = 0, n = payload.length; i < n; i++) request[i + 1] = payload[i];
  await bi.send.writeAll(request);
  await bi.send.finish();
  return fromArray(await bi.recv.readToEnd(MAX_MESSAGE));
}

/** Streamed reply on its own stream: counts the u32-length-prefixed items until the stream ends. */
async function streamRange(connection, n) {
  const bi = await connection.openBi();
  const request = Buffer.alloc(5);
  request[0] = Op.RANGE;
  request.writeUInt32LE(n, 1);
  await bi.send.writeAll(toArray([request], 5));
  await bi.send.finish();
  let items = 0;
  let pending = Buffer.alloc(0);
  await readLoop(bi.recv, chunk => {
    let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let o = 0;
    while (buf.length - o >= 4) {
      const len = buf.readUInt32LE(o);
      if (buf.length - o - 4 < len) break;
      o += 4 + len;
      items++;
    }
    pending = buf.subarray(o);
  });
  return items;
}

/** The framed client: request ids, pending callbacks, one batched writer. */
class FramedChannel {
  constructor(bi) {
    this.pending = new Map();
    this.nextId = 1;
    this.writer = new BatchWriter(bi.send);
    const reader = new FrameReader((id, op, payload) => {
      const entry = this.pending.get(id);
      if (!entry) return;
      if (op === Op.ITEM) {
        entry.items++;
        return;
      }
      this.pending.delete(id);
      entry.resolve(op === Op.END ? entry.items : payload);
    });
    this.done = readLoop(bi.recv, chunk => reader.push(chunk)).then(() => {
      for (const e of this.pending.values()) e.reject(new Error('stream ended'));
      this.pending.clear();
    });
    this.done.catch(() => undefined);
  }
  request(op, payload) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      if (this.nextId > 0x7fffffff) this.nextId = 1;
      this.pending.set(id, { resolve, reject, items: 0 });
      this.writer.write(id, op, payload);
    });
  }
}

async function openFramed(ticket) {
  const link = await dial(ticket);
  const bi = await link.connection.openBi();
  return { ...link, channel: new FramedChannel(bi) };
}

async function create(ticket, payloads, mode) {
  const rangeRequest = n => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n, 0);
    return b;
  };
  const idle = [];
  const EMPTY = Buffer.alloc(0);
  if (mode === 'stream') {
    const link = await dial(ticket);
    const c = link.connection;
    return {
      echo: key => streamRequest(c, Op.ECHO, payloads[key].bytes),
      stream: n => streamRange(c, n),
      hold: () => streamRequest(c, Op.HOLD, EMPTY),
      wire: () => wireOf(c),
      async connectOnce() {
        const t0 = performance.now();
        const l = await dial(ticket);
        await streamRequest(l.connection, Op.ECHO, payloads.small.bytes);
        const ms = performance.now() - t0;
        await hangUp(l);
        return ms;
      },
      async openIdle(n) {
        for (let i = 0; i < n; i++) {
          const l = await dial(ticket);
          await streamRequest(l.connection, Op.ECHO, payloads.small.bytes);
          idle.push(l);
        }
      },
      async closeIdle() {
        await Promise.all(idle.splice(0).map(hangUp));
      },
      close: () => hangUp(link),
    };
  }
  const link = await openFramed(ticket);
  const ch = link.channel;
  return {
    echo: key => ch.request(Op.ECHO, payloads[key].bytes),
    stream: n => ch.request(Op.RANGE, rangeRequest(n)),
    hold: () => ch.request(Op.HOLD, null),
    wire: () => wireOf(link.connection),
    async connectOnce() {
      const t0 = performance.now();
      const l = await openFramed(ticket);
      await l.channel.request(Op.ECHO, payloads.small.bytes);
      const ms = performance.now() - t0;
      await hangUp(l);
      return ms;
    },
    async openIdle(n) {
      for (let i = 0; i < n; i++) {
        const l = await openFramed(ticket);
        await l.channel.request(Op.ECHO, payloads.small.bytes);
        idle.push(l);
      }
    },
    async closeIdle() {
      await Promise.all(idle.splice(0).map(hangUp));
    },
    close: () => hangUp(link),
  };
}

module.exports = { create };
