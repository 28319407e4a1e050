/**
 * Request ids whose request ended (or was refused) on our side while the client may still
 * be sending its request stream: their late DATA and END frames are dropped, not taken for
 * protocol errors (a request may carry a stream the server never took, e.g. a gRPC call to a
 * server that serves no gRPC). The cap bounds what a client can make us remember.
 */
export const MAX_ENDED_IDS = 4096;

/** The ids of one stream's requests that ended recently, oldest forgotten first past {@link MAX_ENDED_IDS}. */
export class EndedRequests {
  private readonly ids = new Set<number>();

  add(id: number): void {
    if (this.ids.size >= MAX_ENDED_IDS) this.ids.delete(this.ids.values().next().value as number);
    this.ids.add(id);
  }

  has(id: number): boolean {
    return this.ids.has(id);
  }

  delete(id: number): void {
    this.ids.delete(id);
  }
}
