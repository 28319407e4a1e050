'use strict';
/**
 * The raw binding baselines: `@number0/iroh` with no Nest and no nestjs-iroh code, doing the least
 * a real application would have to do (Buffers ↔ the binding's `Array<number>`).
 *
 * - stream per request: open a bi stream, write `[op, ...payload]`, finish, read the reply to end.
 * - framed: one long-lived bi stream; frames `u32 length | u32 id | u8 op | payload` both ways;
 *   everything queued while a write is in flight (or in the same tick) goes out in one writeAll.
 */
const iroh = require('@number0/iroh/index.js');

const ALPN = Array.from(Buffer.from('nestjs-iroh-bench/raw'));
const READ_CHUNK = 256 * 1024;
const MAX_MESSAGE = 64 * 1024 * 1024;

const Op = { ECHO: 1, RANGE: 2, HOLD: 3, REPLY: 0x81, ITEM: 0x82, END: 0x83 };
const HEADER = 9;
const EMPTY = Buffer.alloc(0);

async function bindEndpoint(alpn) {
  const builder = iroh.Endpoint.builder();
  iroh.presetMinimal(builder);
  if (alpn) builder.alpns([alpn]);
  builder.bindAddr('127.0.0.1:0');
  return builder.bind();
}

function toArray(parts, total) {
  const out = new Array(total);
  let o = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p];
    for (let i = 0, n = part.length; i < n; i++) out[o++] = part[i];
  }
  return out;
}

function fromArray(bytes) {
  const n = bytes.length;
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = bytes[i];
  return out;
}

function frameHeader(id, op, length) {
  const h = Buffer.allocUnsafe(HEADER);
  h.writeUInt32LE(length, 0);
  h.writeUInt32LE(id, 4);
  h[8] = op;
  return h;
}

/** Splits a byte stream into frames `{ id, op, payload }`. */
class FrameReader {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.parts = [];
    this.have = 0;
    this.header = null;
  }
  push(chunk) {
    this.parts.push(chunk);
    this.have += chunk.length;
    for (;;) {
      if (this.header === null) {
        if (this.have < HEADER) return;
        const h = this.take(HEADER);
        this.header = { length: h.readUInt32LE(0), id: h.readUInt32LE(4), op: h[8] };
      }
      if (this.have < this.header.length) return;
      const { id, op, length } = this.header;
      this.header = null;
      this.onFrame(id, op, this.take(length));
    }
  }
  take(n) {
    if (n === 0) return EMPTY;
    this.have -= n;
    const first = this.parts[0];
    if (first.length > n) {
      this.parts[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.parts.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const part = this.parts[0];
      const k = Math.min(part.length, n - o);
      part.copy(out, o, 0, k);
      o += k;
      if (k === part.length) this.parts.shift();
      else this.parts[0] = part.subarray(k);
    }
    return out;
  }
}

/** Queues frames; one writeAll per batch. */
class BatchWriter {
  constructor(send) {
    this.send = send;
    this.parts = [];
    this.total = 0;
    this.writing = false;
    this.scheduled = false;
    this.failed = null;
  }
  write(id, op, payload) {
    const h = frameHeader(id, op, payload ? payload.length : 0);
    this.parts.push(h);
    this.total += HEADER;
    if (payload && payload.length) {
      this.parts.push(payload);
      this.total += payload.length;
    }
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.drain();
      });
    }
  }
  async drain() {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.parts.length > 0) {
        const parts = this.parts;
        const total = this.total;
        this.parts = [];
        this.total = 0;
        await this.send.writeAll(toArray(parts, total));
      }
    } catch (err) {
      this.failed = err;
    } finally {
      this.writing = false;
    }
  }
}

/** Reads `recv` until it ends, pushing Buffers to `onChunk`. */
async function readLoop(recv, onChunk) {
  for (;;) {
    const bytes = await recv.read(READ_CHUNK);
    if (bytes.length === 0) return;
    onChunk(fromArray(bytes));
  }
}

module.exports = {
  iroh,
  ALPN,
  READ_CHUNK,
  MAX_MESSAGE,
  Op,
  HEADER,
  bindEndpoint,
  toArray,
  fromArray,
  frameHeader,
  FrameReader,
  BatchWriter,
  readLoop,
};
