import iroh = require('./binding');
import { bindingErrorMessage } from './errors';
import type { PeerAddress } from './io';

const HEX_ID = /^[0-9a-fA-F]{64}$/;

export class InvalidPeerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidPeerError';
  }
}

/**
 * Parses a peer given as an endpoint ticket (`endpoint…`: id, direct addresses, relay) or
 * as a bare endpoint id (64 hex characters; reaching it then needs discovery).
 */
export function parsePeer(peer: string): PeerAddress {
  const addr = parseEndpointAddr(peer);
  return { id: addr.id().toString(), relayUrl: addr.relayUrl(), directAddresses: addr.directAddresses() };
}

function parseEndpointAddr(peer: string): iroh.EndpointAddr {
  if (typeof peer !== 'string' || peer.trim() === '') {
    throw new InvalidPeerError('peer is required: an endpoint ticket or an endpoint id');
  }
  const text = peer.trim();
  if (HEX_ID.test(text)) {
    return new iroh.EndpointAddr(iroh.EndpointId.fromString(text.toLowerCase()));
  }
  if (text.startsWith('endpoint')) {
    try {
      return iroh.EndpointTicket.fromString(text).endpointAddr();
    } catch (err) {
      throw new InvalidPeerError(`peer is not a valid endpoint ticket: ${bindingErrorMessage(err)}`);
    }
  }
  throw new InvalidPeerError('peer must be an endpoint ticket (starting with "endpoint") or a 64-character hex endpoint id');
}
