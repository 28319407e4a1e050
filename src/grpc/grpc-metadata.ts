import type { Metadata } from '@grpc/grpc-js';
import { loadGrpcJs } from './grpc-packages';

/**
 * gRPC metadata on the wire: a JSON object of key → values. Keys ending in `-bin` hold
 * binary values, carried as base64 (as gRPC over HTTP/2 carries them).
 */
export type MetadataMap = Record<string, string[]>;

/** The wire form of `metadata`; undefined when there is none. */
export function metadataToWire(metadata: Metadata | null | undefined): MetadataMap | undefined {
  if (!metadata || typeof metadata.toJSON !== 'function') return undefined;
  const entries = Object.entries(metadata.toJSON());
  if (entries.length === 0) return undefined;
  const map: MetadataMap = {};
  for (const [key, values] of entries) {
    map[key] = values.map(value => (typeof value === 'string' ? value : Buffer.from(value).toString('base64')));
  }
  return map;
}

/** A `Metadata` (from `@grpc/grpc-js`) with the entries of a wire map. */
export function metadataFromWire(map: MetadataMap | undefined): Metadata {
  const metadata = new (loadGrpcJs().Metadata)();
  if (!map) return metadata;
  for (const [key, values] of Object.entries(map)) {
    const binary = key.endsWith('-bin');
    for (const value of values) metadata.add(key, binary ? Buffer.from(value, 'base64') : value);
  }
  return metadata;
}

/** True for a `Metadata` instance (or a look-alike), as gRPC callers pass one. */
export function isMetadata(value: unknown): value is Metadata {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Metadata).toJSON === 'function' &&
    typeof (value as Metadata).getMap === 'function'
  );
}
