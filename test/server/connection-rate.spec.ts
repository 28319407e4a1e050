/** The source an incoming connection counts against (src/server/connection-rate.ts). */
import { sourceOf } from '../../src/server/connection-rate';

describe('sourceOf', () => {
  it('is the IP without the port, the endpoint id for a relayed connection, else none', () => {
    expect(sourceOf({ kind: 'ip', addr: '127.0.0.1:57867' })).toBe('127.0.0.1');
    expect(sourceOf({ kind: 'ip', addr: '[::1]:4433' })).toBe('::1');
    expect(sourceOf({ kind: 'ip', addr: '[2001:db8::7]:1' })).toBe('2001:db8::7');
    expect(sourceOf({ kind: 'relay', addr: 'https://relay.example', endpointId: 'abc' })).toBe('relay:abc');
    expect(sourceOf({ kind: 'relay', addr: 'https://relay.example' })).toBeNull();
    expect(sourceOf({ kind: 'custom', description: 'x' })).toBeNull();
  });
});
