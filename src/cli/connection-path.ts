import type { IrohPingResult } from '../client/client-iroh';

export interface ConnectionPath {
  /** Straight over UDP, or through a relay server. */
  kind: 'direct' | 'relay';
  /** `ip:port`, or the relay's URL. */
  remoteAddr: string | null;
}

/** The path a ping travelled, as iroh selected it. */
export function pathOf(result: IrohPingResult): ConnectionPath {
  return { kind: result.path, remoteAddr: result.remoteAddr };
}

export function describePath(path: ConnectionPath): string {
  return path.remoteAddr ? `path=${path.kind} (${path.remoteAddr})` : `path=${path.kind}`;
}
