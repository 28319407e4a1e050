// A hostile peer in its own process: raw iroh connections to a nestjs-iroh server (ALPN
// nestjs-iroh/1, loopback, no relays) speaking frames built with src/protocol's encoders.
//
// Usage: node -r ts-register.js attacker.ts <mode>, env TICKET (the server's ticket) and
// ATTACK (JSON parameters of the mode; each has a default, the attack at full size and
// length). Prints one JSON line {"report":{...}} with what it saw, then exits.
// Modes (times in the report are ms since the attacker started):
//   events          a flood of EVENT frames to the `slow` handler (100 ms each)
//   partial-uploads many connections each announce a large REQUEST and send part of it
//   trickle         partly sent large frames kept open by one byte every few seconds
//   inflate         valid compressed requests that inflate to just under the size limit
//   bombs           over-limit compression bombs, a bad-message budget's worth per stream, on fresh streams
//   slow-reader     requests for large replies, never reading any of them
import { deflateRawSync } from 'zlib';
import { DEFAULT_MAX_MESSAGE_SIZE, FrameFlag, FrameType, encodeFrame, encodeFrameHeader, encodeRequestBody } from '../../src/protocol';
import { out } from './child-io';
import { ObservedConnection, rawEndpoint } from './observed-connection';
import iroh = require('@number0/iroh/index.js');

const MiB = 1024 * 1024;
const started = Date.now();
const now = () => Date.now() - started;
const sleep = (ms: number) => new Promise(r => setTimeout(r, Math.max(0, ms)));

const ticket = process.env.TICKET ?? '';
const params: Record<string, any> = JSON.parse(process.env.ATTACK ?? '{}');
const endpoints: iroh.Endpoint[] = [];
const connections: ObservedConnection[] = [];
let opened = 0;

/** A new connection; from an endpoint (identity) of its own when `ownIdentity`. */
async function connect(ownIdentity: boolean): Promise<ObservedConnection> {
  const index = opened++;
  let endpoint = endpoints[0];
  if (ownIdentity || !endpoint) endpoints.push((endpoint = await rawEndpoint()));
  const connection = await ObservedConnection.open(endpoint, ticket, index, started);
  connections.push(connection);
  return connection;
}

function toArray(...parts: Buffer[]): number[] {
  return [...Buffer.concat(parts)];
}

/** The start of a request body for `pattern` whose data is a JSON string (the rest of the payload). */
function bodyPrefix(pattern: string): Buffer {
  return Buffer.concat([Buffer.from([pattern.length]), Buffer.from(pattern), Buffer.from([0]), Buffer.from('"')]);
}

/** Sends `count` bytes of a frame's payload in 1 MiB writes; returns the bytes sent. */
async function sendPayload(c: ObservedConnection, bi: iroh.BiStream, count: number, chunk: number[]): Promise<number> {
  let sent = 0;
  while (sent < count && !c.isClosed) {
    const n = Math.min(chunk.length, count - sent);
    if (!(await c.write(bi, n === chunk.length ? chunk : chunk.slice(0, n)))) break;
    sent += n;
  }
  return sent;
}

/**
 * (a) EVENT frames to a handler that waits 100 ms, in batches spread over `overMs`. Sending
 * stops at `overMs + observeMs` if flow control still holds a write back then. `heldBack`:
 * some write was held back by flow control for `heldBackMs` or more (the server stopped
 * reading), or was still held back at the end.
 */
async function events(): Promise<object> {
  const { count = 200_000, overMs = 1000, batches = 20, observeMs = 5000, heldBackMs = 1000 } = params;
  const c = await connect(false);
  const { bi } = await c.openStream();
  const frame = encodeFrame(FrameType.EVENT, 0, encodeRequestBody('slow', undefined, undefined).bytes);
  const perBatch = Math.ceil(count / batches);
  const batch = toArray(...Array.from({ length: perBatch }, () => frame));
  const sendStart = now();
  const deadline = sleep(overMs + observeMs).then(() => 'deadline' as const);
  let sent = 0;
  let slowestWriteMs = 0;
  let heldBack = false;
  for (let b = 0; b < batches && !c.isClosed; b++) {
    await sleep(sendStart + (b * overMs) / batches - now());
    const t = now();
    const written = await Promise.race([c.write(bi, batch), deadline]);
    if (written === 'deadline') heldBack = true;
    if (written !== true) break;
    slowestWriteMs = Math.max(slowestWriteMs, now() - t);
    if (slowestWriteMs >= heldBackMs) heldBack = true;
    sent += perBatch;
  }
  const sendMs = now() - sendStart;
  await c.closedWithin(sendStart + overMs + observeMs - now());
  return { eventsSent: sent, frameBytes: frame.length, bytesSent: sent * frame.length, sendMs, slowestWriteMs, heldBack };
}

/** (b) Each connection announces a REQUEST of `announcedBytes` and sends `sentBytes` of it, then holds. */
async function partialUploads(): Promise<object> {
  const { connections: n = 20, announcedBytes = 16 * MiB, sentBytes = 11 * MiB, holdMs = 10_000 } = params;
  const chunk = new Array<number>(MiB).fill(0x78);
  const results = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = await connect(true);
      const { bi } = await c.openStream();
      const prefix = bodyPrefix('echo');
      if (!(await c.write(bi, toArray(encodeFrameHeader(FrameType.REQUEST, 0, 1, announcedBytes), prefix)))) return { sent: 0, at: now() };
      const sent = prefix.length + (await sendPayload(c, bi, sentBytes - prefix.length, chunk));
      return { sent, at: now() };
    }),
  );
  const sentAt = Math.max(...results.map(r => r.at));
  await Promise.all(connections.map(c => c.closedWithin(sentAt + holdMs - now())));
  return {
    announcedBytes,
    bytesSent: results.reduce((s, r) => s + r.sent, 0),
    sendDoneAt: sentAt,
    fullySent: results.filter(r => r.sent >= sentBytes).length,
  };
}

/** (c) Partly sent frames of `announcedBytes`, then one byte every `everyMs` for `durationMs` from the frame's start. */
async function trickle(): Promise<object> {
  const {
    connections: n = 4,
    announcedBytes = Math.floor(15.9 * MiB),
    sentBytes = 8 * MiB,
    everyMs = 10_000,
    durationMs = 55_000,
  } = params;
  const chunk = new Array<number>(MiB).fill(0x78);
  const perConnection = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = await connect(true);
      const { bi } = await c.openStream();
      const frameStartedAt = now();
      const prefix = bodyPrefix('echo');
      await c.write(bi, toArray(encodeFrameHeader(FrameType.REQUEST, 0, 1, announcedBytes), prefix));
      let sent = prefix.length + (await sendPayload(c, bi, sentBytes - prefix.length, chunk));
      const partSentAt = now();
      let trickled = 0;
      while (!c.isClosed && now() - frameStartedAt < durationMs) {
        if (await c.closedWithin(Math.min(everyMs, frameStartedAt + durationMs - now()))) break;
        if (now() - frameStartedAt >= durationMs) break;
        if (!(await c.write(bi, [0x78]))) break;
        trickled++;
        sent++;
      }
      return {
        frameStartedAt,
        partSentAt,
        sent,
        trickled,
        closedAfterFrameStartMs: c.view.closed ? c.view.closed.at - frameStartedAt : null,
      };
    }),
  );
  return { announcedBytes, everyMs, durationMs, perConnection };
}

/** A request body for `pattern` whose data is a JSON string, `size` bytes in all. */
function bodyOfSize(pattern: string, size: number): Buffer {
  const overhead = encodeRequestBody(pattern, '', undefined).bytes.length;
  return encodeRequestBody(pattern, 'a'.repeat(size - overhead), undefined).bytes;
}

/** (d) `count` valid compressed requests, each inflating to `inflatedBytes`, on one stream at once. */
async function inflate(): Promise<object> {
  const { count = 100, inflatedBytes = DEFAULT_MAX_MESSAGE_SIZE - 1024, pattern = 'size', observeMs = 20_000 } = params;
  const compressed = deflateRawSync(bodyOfSize(pattern, inflatedBytes), { level: 9 });
  const c = await connect(false);
  const { bi } = await c.openStream();
  const answered = new Set<number>();
  let lastReplyAt = 0;
  let firstReplyAt = 0;
  c.onReply = (id, type) => {
    if (type === FrameType.DATA) return;
    answered.add(id);
    lastReplyAt = now();
    firstReplyAt ||= lastReplyAt;
  };
  const frames = Array.from({ length: count }, (_, i) => encodeFrame(FrameType.REQUEST, i + 1, compressed, FrameFlag.COMPRESSED));
  const sentAt = now();
  await c.write(bi, toArray(...frames));
  const end = Date.now() + observeMs;
  while (answered.size < count && !c.isClosed && Date.now() < end) await sleep(20);
  return {
    compressedBytes: compressed.length,
    inflatedBytes,
    requests: count,
    sentAt,
    answered: answered.size,
    firstReplyAfterMs: firstReplyAt ? firstReplyAt - sentAt : null,
    lastReplyAfterMs: lastReplyAt ? lastReplyAt - sentAt : null,
  };
}

/** (e) On `streams` streams at once, fresh streams of `perStream` over-limit bombs each, for `durationMs`. */
async function bombs(): Promise<object> {
  const { streams = 16, perStream = 32, durationMs = 30_000, limit = DEFAULT_MAX_MESSAGE_SIZE } = params;
  const bomb = deflateRawSync(bodyOfSize('echo', limit + MiB), { level: 9 });
  const batch = toArray(...Array.from({ length: perStream }, (_, i) => encodeFrame(FrameType.REQUEST, i + 1, bomb, FrameFlag.COMPRESSED)));
  const c = await connect(false);
  const attackEnd = Date.now() + durationMs;
  let bombsSent = 0;
  let streamsUsed = 0;
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (!c.isClosed && Date.now() < attackEnd) {
        let stream;
        try {
          stream = await c.openStream();
        } catch {
          return;
        }
        streamsUsed++;
        if (!(await c.write(stream.bi, batch))) return;
        bombsSent += perStream;
        await stream.bi.send.finish().catch(() => undefined);
        await stream.ended;
      }
    }),
  );
  return { bombBytes: bomb.length, inflatesTo: limit + MiB, bombsSent, streamsUsed, stoppedAt: now() };
}

/**
 * (f) Requests for `replyBytes` of random bytes, `perWrite` at a time, never reading the
 * replies; each request padded with `padBytes` (larger request frames).
 */
async function slowReader(): Promise<object> {
  const { replyBytes = 64 * 1024, padBytes = 0, perWrite = 16, durationMs = 60_000 } = params;
  const data = padBytes > 0 ? { size: replyBytes, pad: 'p'.repeat(padBytes) } : replyBytes;
  const c = await connect(false);
  const { bi } = await c.openStream(false);
  let id = 0;
  let lastWriteDoneAt = 0;
  let slowestWriteMs = 0;
  let blockedSince: number | null = null;
  const writing = (async () => {
    while (!c.isClosed && now() < durationMs) {
      const frames = Array.from({ length: perWrite }, () => {
        const body = encodeRequestBody('blob', data, undefined);
        return encodeFrame(FrameType.REQUEST, ++id, body.bytes, body.flags);
      });
      const t = now();
      blockedSince = t;
      if (!(await c.write(bi, toArray(...frames)))) break;
      blockedSince = null;
      lastWriteDoneAt = now();
      slowestWriteMs = Math.max(slowestWriteMs, lastWriteDoneAt - t);
      await sleep(5);
    }
  })();
  await Promise.race([writing, c.closedWithin(durationMs)]);
  return { requestsWritten: id, replyBytesRequested: id * replyBytes, lastWriteDoneAt, writeBlockedSince: blockedSince, slowestWriteMs };
}

const modes: Record<string, () => Promise<object>> = {
  events,
  'partial-uploads': partialUploads,
  trickle,
  inflate,
  bombs,
  'slow-reader': slowReader,
};

async function main(): Promise<void> {
  const mode = process.argv[2];
  const run = modes[mode];
  if (!run) throw new Error(`unknown mode ${mode}; one of ${Object.keys(modes).join(', ')}`);
  if (!ticket) throw new Error('TICKET is required');
  let result: object;
  let error: string | undefined;
  try {
    result = await run();
  } catch (err) {
    result = {};
    error = String((err as Error)?.stack ?? err);
  }
  out({ report: { mode, params, startedAt: started, durationMs: now(), error, ...result, connections: connections.map(c => c.view) } });
  connections.forEach(c => c.close());
  await Promise.race([Promise.all(endpoints.map(e => e.close().catch(() => undefined))), sleep(2000)]);
  process.exit(0);
}

main().catch(err => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
