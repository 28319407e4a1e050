/** Identifies the iroh transport, e.g. `@MessagePattern('sum', IROH_TRANSPORT)` for iroh only. */
export const IROH_TRANSPORT = Symbol.for('nestjs-iroh');

/** Nest's own reply to a request no handler matches (the TCP transport's wording). */
export const NO_MESSAGE_HANDLER = 'There is no matching message handler defined in the remote service.';
