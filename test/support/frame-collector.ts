import { DEFAULT_MAX_MESSAGE_SIZE, Frame, FrameDecoder, FrameType, OversizedFrame, ProtocolError, encodeFrame } from '../../src/protocol';

/** A FrameDecoder and everything its callbacks reported. */
export interface Collected {
  decoder: FrameDecoder;
  frames: Frame[];
  oversized: OversizedFrame[];
  errors: ProtocolError[];
  /** Every callback in the order it happened. */
  events: string[];
}

export function collect(maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): Collected {
  const c = { frames: [], oversized: [], errors: [], events: [] } as unknown as Collected;
  c.decoder = new FrameDecoder(maxMessageSize, {
    onFrame: f => {
      // Copy: the payload may share memory with the pushed chunk.
      c.frames.push({ ...f, payload: Buffer.from(f.payload) });
      c.events.push(`frame:${f.type}:${f.id}`);
    },
    onOversized: f => {
      c.oversized.push(f);
      c.events.push(`oversized:${f.type}:${f.id}`);
    },
    onError: e => {
      c.errors.push(e);
      c.events.push(`error:${e.code}`);
    },
  });
  return c;
}

/** Frames as [type, id, payload, flags?]. */
export type FrameSpec = [FrameType, number, Buffer, number?];

/** The bytes of `frames`, back to back. */
export function stream(frames: FrameSpec[]): Buffer {
  return Buffer.concat(frames.map(([type, id, payload, flags]) => encodeFrame(type, id, payload, flags ?? 0)));
}

/** Frames as plain objects with hex payloads, for comparisons. */
export function plain(frames: Frame[]) {
  return frames.map(f => ({ type: f.type, flags: f.flags, id: f.id, payload: f.payload.toString('hex') }));
}
