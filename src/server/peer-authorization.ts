import { withinTime } from '../iroh';
import type { AllowPeersOption } from '../interfaces/iroh-options.interface';

const HEX_ID = /^[0-9a-f]{64}$/;

/**
 * Turns the `allowPeers` option into one check; undefined allows everyone. A function that
 * has not answered within `timeoutMs` (0: no limit) fails the check, which refuses the peer:
 * until it answers, the connection holds a place among the handshakes under way.
 */
export function peerAuthorizer(option: AllowPeersOption | undefined, timeoutMs = 0): (endpointId: string) => Promise<boolean> {
  if (option === undefined) return async () => true;
  if (typeof option === 'function') {
    if (timeoutMs <= 0) return async endpointId => (await option(endpointId)) === true;
    const expired = () => new Error(`no answer within ${timeoutMs} ms (allowPeersTimeout)`);
    return async endpointId => (await withinTime(Promise.resolve(option(endpointId)), timeoutMs, expired)) === true;
  }
  if (!Array.isArray(option)) throw new TypeError('allowPeers must be a list of endpoint ids or a function');
  const allowed = new Set(
    option.map(id => {
      const normalized = typeof id === 'string' ? id.trim().toLowerCase() : '';
      if (!HEX_ID.test(normalized)) {
        throw new TypeError(`allowPeers: ${JSON.stringify(id)} is not an endpoint id (64 hex characters)`);
      }
      return normalized;
    }),
  );
  return async endpointId => allowed.has(endpointId);
}
