import { TRACE_CONTEXT_KEY, canCarryTraceContext, withoutTraceContext } from '../../src/observability';
import { traceContextOf, withTraceContext } from '../../src/observability/trace-context';

describe('observability: the reserved metadata key', () => {
  const carrier = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=1' };

  it('adds the trace context to a copy, replacing a member of the reserved name', () => {
    const metadata = { user: 'u1', [TRACE_CONTEXT_KEY]: 'mine' };
    const sent = withTraceContext(metadata, carrier);
    expect(sent).toEqual({ user: 'u1', [TRACE_CONTEXT_KEY]: carrier });
    expect(metadata).toEqual({ user: 'u1', [TRACE_CONTEXT_KEY]: 'mine' });
    expect(withTraceContext(undefined, carrier)).toEqual({ [TRACE_CONTEXT_KEY]: carrier });
  });

  it('carries the trace context only in absent or plain-object metadata', () => {
    expect(canCarryTraceContext(undefined)).toBe(true);
    expect(canCarryTraceContext({})).toBe(true);
    expect(canCarryTraceContext(Object.create(null))).toBe(true);
    for (const other of [null, 0, 'text', [], new Date(), new Map()]) expect(canCarryTraceContext(other)).toBe(false);
    const list = [1];
    expect(withTraceContext(list, carrier)).toBe(list);
  });

  it('strips the key and keeps everything else, without touching what was received', () => {
    const received = JSON.parse(`{"${TRACE_CONTEXT_KEY}":{"traceparent":"x"},"__proto__":{"polluted":true},"a":1}`);
    const seen = withoutTraceContext(received) as Record<string, unknown>;
    expect(Object.keys(seen)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(seen)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(received).toHaveProperty([TRACE_CONTEXT_KEY]);
  });

  it('returns metadata without the key as it is', () => {
    const metadata = { a: 1 };
    expect(withoutTraceContext(metadata)).toBe(metadata);
    expect(withoutTraceContext(undefined)).toBeUndefined();
    expect(withoutTraceContext('text')).toBe('text');
    const list = [TRACE_CONTEXT_KEY];
    expect(withoutTraceContext(list)).toBe(list);
  });

  it('reads only an object under the key as a trace context', () => {
    expect(traceContextOf({ [TRACE_CONTEXT_KEY]: carrier })).toBe(carrier);
    expect(traceContextOf({ [TRACE_CONTEXT_KEY]: 'text' })).toBeUndefined();
    expect(traceContextOf({ [TRACE_CONTEXT_KEY]: ['a'] })).toBeUndefined();
    expect(traceContextOf({ a: 1 })).toBeUndefined();
    expect(traceContextOf(Object.create({ [TRACE_CONTEXT_KEY]: carrier }))).toBeUndefined();
  });
});
