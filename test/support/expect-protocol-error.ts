import { ErrorCode, ProtocolError } from '../../src/protocol';

/** Runs `fn`, expecting it to throw a ProtocolError with `code`, and returns that error. */
export function expectProtocolError(fn: () => unknown, code: ErrorCode): ProtocolError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect((thrown as ProtocolError).code).toBe(code);
  return thrown as ProtocolError;
}
