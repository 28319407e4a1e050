import { ClientIroh } from '../client/client-iroh';
import iroh = require('../iroh/binding');

export interface ConnectionPath {
  /** Straight over UDP, or through a relay server. */
  kind: 'direct' | 'relay' | 'unknown';
  /** `ip:port`, or the relay's URL. */
  remoteAddr: string | null;
}

/**
 * The path the client's connection to its peer uses now, as iroh selected it.
 * ClientIroh has no public accessor for its connection; this reads the field that holds it
 * and reports `unknown` when there is none.
 */
export function connectionPath(client: ClientIroh): ConnectionPath {
  const connection = (client as unknown as { active?: { connection?: { paths(): iroh.PathSnapshot[] } } }).active?.connection;
  const selected = connection?.paths().find(path => path.isSelected);
  if (!selected) return { kind: 'unknown', remoteAddr: null };
  return { kind: selected.isRelay ? 'relay' : 'direct', remoteAddr: selected.remoteAddr };
}

export function describePath(path: ConnectionPath): string {
  return path.remoteAddr ? `path=${path.kind} (${path.remoteAddr})` : `path=${path.kind}`;
}
