/**
 * Property-based tests of the protocol layer against hostile input (fast-check).
 *
 * Every property is bounded in runs and wall time so the file stays well under 30 s on a
 * 2-core machine. To reproduce a failure, fast-check prints the seed and path; re-run with
 * FC_SEED=<seed> (and FC_RUNS to change the run count).
 */
import fc from 'fast-check';
import { deflateRawSync } from 'zlib';
import {
  ErrorCode,
  Frame,
  FrameDecoder,
  FrameFlag,
  FrameType,
  KNOWN_FLAGS,
  MAX_VARINT_BYTES,
  ProtocolError,
  decodeGoAway,
  decodeReplyMessage,
  decodeRequestBody,
  decodeRequestMessage,
  decodeValue,
  decompress,
  encodeFrame,
  encodeFrameHeader,
  encodeRequestBody,
} from '../../src/protocol';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : undefined;

/** Runs a property with a bounded number of runs and a wall-clock cap. */
function check(property: fc.IPropertyWithHooks<any> | fc.IProperty<any>, numRuns: number, ms = 3000): void {
  fc.assert(property, {
    numRuns: RUNS ?? numRuns,
    interruptAfterTimeLimit: ms,
    seed: SEED,
  });
}

// ---------------------------------------------------------------- model

type Event =
  | { kind: 'frame'; type: number; flags: number; id: number; payload: string }
  | { kind: 'oversized'; type: number; flags: number; id: number; length: number }
  | { kind: 'error'; code: ErrorCode };

/**
 * A reference decoder: the protocol as docs/protocol.md states it, written for clarity over
 * speed and run over the whole input at once. The real decoder, however its input is
 * chunked, must emit exactly these events.
 */
function referenceDecode(bytes: Uint8Array, max: number): Event[] {
  const events: Event[] = [];
  let pos = 0;
  const varint = (at: number): { value: number; next: number } | 'incomplete' | 'too-long' => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (at + i >= bytes.length) return 'incomplete';
      const b = bytes[at + i];
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return { value, next: at + i + 1 };
      scale *= 128;
    }
    return 'too-long';
  };
  while (pos < bytes.length) {
    if (bytes.length - pos < 2) break;
    const version = bytes[pos] >> 4;
    const type = bytes[pos] & 0x0f;
    const flags = bytes[pos + 1];
    if (version !== 1) {
      events.push({ kind: 'error', code: ErrorCode.UNSUPPORTED_VERSION });
      break;
    }
    if (type < 1 || type > 10 || (flags & ~KNOWN_FLAGS) !== 0) {
      events.push({ kind: 'error', code: ErrorCode.UNKNOWN_FRAME });
      break;
    }
    const id = varint(pos + 2);
    if (id === 'incomplete') break;
    if (id === 'too-long') {
      events.push({ kind: 'error', code: ErrorCode.PROTOCOL_ERROR });
      break;
    }
    const length = varint(id.next);
    if (length === 'incomplete') break;
    if (length === 'too-long') {
      events.push({ kind: 'error', code: ErrorCode.PROTOCOL_ERROR });
      break;
    }
    const start = length.next;
    if (length.value > max) {
      events.push({ kind: 'oversized', type, flags, id: id.value, length: length.value });
      pos = start + length.value;
      continue;
    }
    if (start + length.value > bytes.length) break;
    const payload = Buffer.from(bytes.subarray(start, start + length.value)).toString('hex');
    events.push({ kind: 'frame', type, flags, id: id.value, payload });
    pos = start + length.value;
  }
  return events;
}

interface Run {
  events: Event[];
  maxPayloadSeen: number;
  eventsAfterError: number;
  decoder: FrameDecoder;
}

/** Feeds `bytes` to a real decoder in chunks of the given sizes (cycled). */
function runDecoder(bytes: Uint8Array, max: number, chunkSizes: number[]): Run {
  const run: Run = { events: [], maxPayloadSeen: 0, eventsAfterError: 0, decoder: null as unknown as FrameDecoder };
  let failed = false;
  const record = (e: Event) => {
    if (failed) run.eventsAfterError++;
    run.events.push(e);
  };
  run.decoder = new FrameDecoder(max, {
    onFrame: (f: Frame) => {
      run.maxPayloadSeen = Math.max(run.maxPayloadSeen, f.payload.length);
      record({ kind: 'frame', type: f.type, flags: f.flags, id: f.id, payload: f.payload.toString('hex') });
    },
    onOversized: f => record({ kind: 'oversized', type: f.type, flags: f.flags, id: f.id, length: f.length }),
    onError: e => {
      expect(e).toBeInstanceOf(ProtocolError);
      record({ kind: 'error', code: e.code });
      failed = true;
    },
  });
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  let k = 0;
  while (offset < buf.length) {
    const size = chunkSizes.length === 0 ? buf.length : chunkSizes[k++ % chunkSizes.length];
    run.decoder.push(buf.subarray(offset, offset + size));
    offset += size;
  }
  return run;
}

// ---------------------------------------------------------------- arbitraries

const frameTypeArb = fc.integer({ min: 1, max: 10 }) as fc.Arbitrary<FrameType>;
const idArb = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 2 ** 31 - 1 }) },
  { weight: 1, arbitrary: fc.maxSafeNat() },
);

interface FrameSpec {
  type: FrameType;
  flags: number;
  id: number;
  payload: Uint8Array;
}

const frameArb = (maxPayload: number): fc.Arbitrary<FrameSpec> =>
  fc.record({
    type: frameTypeArb,
    flags: fc.integer({ min: 0, max: 255 }).map(f => f & KNOWN_FLAGS),
    id: idArb,
    payload: fc.oneof(
      { weight: 3, arbitrary: fc.uint8Array({ maxLength: 16 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: maxPayload }) },
    ),
  });

const encodeSpecs = (frames: FrameSpec[]): Buffer =>
  Buffer.concat(frames.map(f => encodeFrame(f.type, f.id, Buffer.from(f.payload), f.flags)));

/** Chunk sizes: mostly tiny (to split headers and varints), sometimes large. */
const chunkSizesArb = fc.array(
  fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 600 }) }),
  { maxLength: 40 },
);

/** Input an attacker might send: noise, or valid frames with bytes flipped, cut or spliced in. */
const hostileBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  // Noise behind a plausible first byte.
  fc
    .tuple(fc.integer({ min: 0x11, max: 0x1a }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 }))
    .map(([a, b, rest]) => Uint8Array.from([a, b, ...rest])),
  // Valid frames, then mutated.
  fc
    .tuple(
      fc.array(frameArb(300), { minLength: 1, maxLength: 12 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.option(fc.nat()),
    )
    .map(([frames, flips, cut]) => {
      const bytes = Uint8Array.from(encodeSpecs(frames));
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
    }),
  // Headers with long or huge varints.
  fc
    .tuple(frameTypeArb, fc.array(fc.integer({ min: 0x80, max: 0xff }), { maxLength: 10 }), fc.uint8Array({ maxLength: 30 }))
    .map(([type, cont, rest]) => Uint8Array.from([0x10 | type, 0, ...cont, ...rest])),
  // A frame announcing a length far beyond the limit, then its (partial) payload and more frames.
  fc
    .tuple(frameTypeArb, fc.integer({ min: 65, max: 2 ** 40 }), fc.uint8Array({ maxLength: 200 }), fc.array(frameArb(64), { maxLength: 4 }))
    .map(([type, length, partial, after]) =>
      Uint8Array.from(Buffer.concat([encodeFrameHeader(type, 0, 1, length), Buffer.from(partial), encodeSpecs(after)])),
    ),
);

/** Call `fn`; anything thrown must be a ProtocolError. Returns the result or the error. */
function onlyProtocolErrors<T>(fn: () => T): T | ProtocolError {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof ProtocolError)) {
      throw new Error(`threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    expect(Object.values(ErrorCode)).toContain(err.code);
    return err;
  }
}

// ---------------------------------------------------------------- properties

describe('FrameDecoder properties', () => {
  it('decodes any sequence of valid frames, split into any chunks, to the same frames in order', () => {
    check(
      fc.property(fc.array(frameArb(2000), { maxLength: 30 }), chunkSizesArb, (frames, chunks) => {
        const run = runDecoder(encodeSpecs(frames), 1 << 20, chunks);
        expect(run.events).toEqual(
          frames.map(f => ({ kind: 'frame', type: f.type, flags: f.flags, id: f.id, payload: Buffer.from(f.payload).toString('hex') })),
        );
        expect(run.decoder.idle).toBe(true);
        expect(run.decoder.failed).toBe(false);
      }),
      400,
    );
  });

  it('reports frames over the limit as oversized, in order, and keeps decoding', () => {
    const max = 64;
    check(
      fc.property(fc.array(frameArb(200), { maxLength: 20 }), chunkSizesArb, (frames, chunks) => {
        const run = runDecoder(encodeSpecs(frames), max, chunks);
        expect(run.events).toEqual(
          frames.map(f =>
            f.payload.length > max
              ? { kind: 'oversized', type: f.type, flags: f.flags, id: f.id, length: f.payload.length }
              : { kind: 'frame', type: f.type, flags: f.flags, id: f.id, payload: Buffer.from(f.payload).toString('hex') },
          ),
        );
        expect(run.maxPayloadSeen).toBeLessThanOrEqual(max);
      }),
      400,
    );
  });

  it('survives hostile bytes: never throws, never exceeds the limit, emits nothing after an error', () => {
    const max = 64;
    check(
      fc.property(hostileBytesArb, chunkSizesArb, (bytes, chunks) => {
        const run = runDecoder(bytes, max, chunks);
        expect(run.maxPayloadSeen).toBeLessThanOrEqual(max);
        expect(run.eventsAfterError).toBe(0);
        const errors = run.events.filter(e => e.kind === 'error');
        expect(errors.length).toBeLessThanOrEqual(1);
        expect(run.decoder.failed).toBe(errors.length === 1);
        // Nothing is held beyond one header's bytes or one message's payload.
        const internals = run.decoder as unknown as { headerRemainder: Buffer | null; payloadParts: Buffer[] };
        expect(internals.headerRemainder?.length ?? 0).toBeLessThan(18);
        expect(internals.payloadParts.reduce((n, p) => n + p.length, 0)).toBeLessThanOrEqual(max);
      }),
      1500,
      6000,
    );
  });

  it('agrees with the reference decoder on hostile bytes, however they are chunked', () => {
    const seen = { frame: 0, oversized: 0, error: 0 };
    check(
      fc.property(hostileBytesArb, chunkSizesArb, fc.integer({ min: 1, max: 400 }), (bytes, chunks, max) => {
        const expected = referenceDecode(bytes, max);
        expect(runDecoder(bytes, max, chunks).events).toEqual(expected);
        for (const e of expected) seen[e.kind]++;
      }),
      1500,
      6000,
    );
    // The generated input reached every outcome, so the comparison above means something.
    expect(seen.frame).toBeGreaterThan(0);
    expect(seen.oversized).toBeGreaterThan(0);
    expect(seen.error).toBeGreaterThan(0);
  });

  it('ignores everything pushed after an error', () => {
    check(
      fc.property(hostileBytesArb, fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes, more) => {
        const run = runDecoder(bytes, 64, []);
        if (!run.decoder.failed) return;
        const before = run.events.length;
        run.decoder.push(Buffer.from(more));
        run.decoder.push(encodeFrame(FrameType.END, 1));
        expect(run.events.length).toBe(before);
      }),
      300,
    );
  });
});

describe('payload decoding properties', () => {
  const flagsArb = fc.integer({ min: 0, max: 255 });
  const maxArb = fc.integer({ min: 1, max: 4096 });

  /** Noise, or a valid request body / deflate stream, possibly corrupted. */
  const payloadArb: fc.Arbitrary<Buffer> = fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map(b => Buffer.from(b)),
    fc.tuple(fc.string(), fc.jsonValue(), fc.option(fc.jsonValue())).map(([p, d, m]) => encodeRequestBody(p, d, m ?? undefined).bytes),
    fc
      .tuple(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        fc.option(fc.nat()),
      )
      .map(([raw, flips, cut]) => {
        const packed = Buffer.from(deflateRawSync(Buffer.from(raw)));
        for (const [at, v] of flips) if (packed.length) packed[at % packed.length] = v;
        return cut === null ? packed : packed.subarray(0, cut % (packed.length + 1));
      }),
  );

  it('decodeValue only ever throws ProtocolError', () => {
    check(
      fc.property(payloadArb, flagsArb, (bytes, flags) => {
        const out = onlyProtocolErrors(() => decodeValue(bytes, flags));
        if (flags & FrameFlag.BINARY) expect(out).toBe(bytes);
      }),
      1000,
    );
  });

  it('decompress only ever throws ProtocolError and never returns more than maxSize', () => {
    check(
      fc.property(payloadArb, maxArb, (bytes, max) => {
        const out = onlyProtocolErrors(() => decompress(bytes, FrameFlag.COMPRESSED, max));
        if (Buffer.isBuffer(out)) expect(out.length).toBeLessThanOrEqual(max);
        else expect([ErrorCode.MALFORMED_PAYLOAD, ErrorCode.MESSAGE_TOO_LARGE]).toContain(out.code);
      }),
      1000,
    );
  });

  it('decodeRequestBody only ever throws ProtocolError, and what it returns is well-formed', () => {
    check(
      fc.property(payloadArb, flagsArb, (bytes, flags) => {
        const out = onlyProtocolErrors(() => decodeRequestBody(bytes, flags));
        if (out instanceof ProtocolError) expect(out.code).toBe(ErrorCode.MALFORMED_PAYLOAD);
        else expect(typeof out.pattern).toBe('string');
      }),
      1000,
    );
  });

  it('decodeRequestMessage and decodeReplyMessage only ever throw ProtocolError', () => {
    check(
      fc.property(
        payloadArb,
        fc.integer({ min: 0, max: 255 }).map(f => f & KNOWN_FLAGS),
        frameTypeArb,
        maxArb,
        (payload, flags, type, max) => {
          const frame: Frame = { type, flags, id: 1, payload };
          onlyProtocolErrors(() => decodeRequestMessage(frame, max));
          onlyProtocolErrors(() => decodeReplyMessage(frame, max));
        },
      ),
      1000,
    );
  });

  it('decodeGoAway never throws', () => {
    check(
      fc.property(payloadArb, bytes => {
        const { code, reason } = decodeGoAway(bytes);
        expect(Number.isInteger(code)).toBe(true);
        expect(typeof reason).toBe('string');
      }),
      500,
    );
  });
});
