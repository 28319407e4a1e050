/**
 * Errors from the binding carry a Rust backtrace and source paths; keep the part a person
 * can act on.
 */
export function bindingErrorMessage(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const withoutBacktrace = raw.split(/\n\s*\nStack backtrace:/)[0];
  return withoutBacktrace
    .split('\n')
    .map(line => line.replace(/\s*\((?:\/|[A-Za-z]:\\)[^()]*:\d+:\d+\)\s*$/, '').trim())
    .filter(line => line.length > 0)
    .join(': ')
    .replace(/Caused by:: /g, '');
}

/** An error raised by iroh (binding, connection or endpoint), with a readable message. */
export class IrohError extends Error {
  constructor(
    message: string,
    readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'IrohError';
  }

  static from(context: string, err: unknown): IrohError {
    return new IrohError(`${context}: ${bindingErrorMessage(err)}`, err);
  }
}
