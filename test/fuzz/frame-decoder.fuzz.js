/**
 * Jazzer.js fuzz target: arbitrary bytes into the protocol layer, as a hostile peer would
 * send them. Run it with test/fuzz/run.sh, which compiles src/protocol first.
 *
 * Input layout (so that libFuzzer controls every knob):
 *   byte 0      maximum message size, one of MAX_SIZES
 *   byte 1      n = number of chunk-size bytes (0-7)
 *   n bytes     chunk sizes the stream is pushed in (cycled; 0 means 1)
 *   the rest    the byte stream
 *
 * Invariants (a thrown Error is a finding):
 *   - FrameDecoder.push never throws;
 *   - a frame's payload never exceeds the maximum message size;
 *   - at most one onError, and nothing at all after it;
 *   - the frames do not depend on how the stream is chunked;
 *   - decodeRequestMessage / decodeReplyMessage / decodeRequestBody / decodeValue /
 *     decompress only ever throw ProtocolError, and decompress never returns more than the
 *     limit; decodeGoAway never throws.
 */
'use strict';
const path = require('path');

const p = require(process.env.NESTJS_IROH_FUZZ_PROTOCOL || path.join(__dirname, '.build', 'protocol'));

const MAX_SIZES = [0, 1, 7, 64, 256, 4096, 65536, 16 * 1024 * 1024];

function fail(message) {
  throw new Error(`invariant violated: ${message}`);
}

/** Runs `fn`; anything it throws must be a ProtocolError with a known code. */
function onlyProtocolErrors(what, fn) {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof p.ProtocolError)) fail(`${what} threw ${err && err.constructor && err.constructor.name}: ${err && err.message}`);
    if (p.ErrorCode[err.code] === undefined) fail(`${what} threw unknown code ${err.code}`);
    return err;
  }
}

function decodeAll(stream, max, chunkSizes) {
  const events = [];
  let failed = false;
  const decoder = new p.FrameDecoder(max, {
    onFrame(frame) {
      if (failed) fail('onFrame after onError');
      if (frame.payload.length > max) fail(`payload of ${frame.payload.length} bytes over the limit of ${max}`);
      events.push({ kind: 'frame', type: frame.type, flags: frame.flags, id: frame.id, payload: Buffer.from(frame.payload) });
    },
    onOversized(frame) {
      if (failed) fail('onOversized after onError');
      if (!(frame.length > max)) fail(`oversized frame of ${frame.length} bytes within the limit of ${max}`);
      events.push({ kind: 'oversized', type: frame.type, flags: frame.flags, id: frame.id, length: frame.length });
    },
    onError(error) {
      if (failed) fail('second onError');
      if (!(error instanceof p.ProtocolError)) fail('onError with something other than a ProtocolError');
      failed = true;
      events.push({ kind: 'error', code: error.code });
    },
  });
  let offset = 0;
  let k = 0;
  while (offset < stream.length) {
    const size = chunkSizes.length === 0 ? stream.length : Math.max(1, chunkSizes[k++ % chunkSizes.length]);
    decoder.push(stream.subarray(offset, offset + size));
    offset += size;
  }
  if (decoder.failed !== failed) fail('decoder.failed disagrees with onError');
  return events;
}

function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.kind !== y.kind || x.type !== y.type || x.flags !== y.flags || x.id !== y.id || x.code !== y.code || x.length !== y.length)
      return false;
    if (x.payload && !x.payload.equals(y.payload)) return false;
  }
  return true;
}

function checkFrame(frame, max) {
  switch (frame.type) {
    case p.FrameType.REQUEST:
    case p.FrameType.EVENT: {
      const out = onlyProtocolErrors('decodeRequestMessage', () => p.decodeRequestMessage(frame, max));
      if (out && !(out instanceof p.ProtocolError) && !out.envelope && typeof out.body.pattern !== 'string')
        fail('pattern is not a string');
      break;
    }
    case p.FrameType.RESPONSE:
    case p.FrameType.DATA:
    case p.FrameType.END:
    case p.FrameType.ERROR:
      onlyProtocolErrors('decodeReplyMessage', () => p.decodeReplyMessage(frame, max));
      break;
    case p.FrameType.GOAWAY: {
      const { code, reason } = p.decodeGoAway(frame.payload);
      if (!Number.isFinite(code) || typeof reason !== 'string') fail('decodeGoAway returned nonsense');
      break;
    }
    default:
      break;
  }
}

module.exports.fuzz = function fuzz(data) {
  if (data.length < 2) return;
  const max = Math.max(1, MAX_SIZES[data[0] % MAX_SIZES.length]);
  const n = data[1] % 8;
  const chunkSizes = [...data.subarray(2, 2 + n)];
  const stream = data.subarray(2 + n);

  const chunked = decodeAll(stream, max, chunkSizes);
  const whole = decodeAll(stream, max, []);
  if (!same(chunked, whole)) fail('frames depend on how the stream is chunked');
  for (const event of whole) if (event.kind === 'frame') checkFrame(event, max);

  // The payload decoders on the raw bytes too, as if they were one frame's payload.
  const flags = data[1];
  onlyProtocolErrors('decodeRequestBody', () => p.decodeRequestBody(stream, flags));
  onlyProtocolErrors('decodeValue', () => p.decodeValue(stream, flags));
  const inflated = onlyProtocolErrors('decompress', () => p.decompress(stream, p.FrameFlag.COMPRESSED, max));
  if (Buffer.isBuffer(inflated) && inflated.length > max) fail(`decompress returned ${inflated.length} bytes over ${max}`);
  p.decodeGoAway(stream);
};
