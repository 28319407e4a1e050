import { UsageError } from './errors';

/** Parses a JSON command-line argument; `what` names it in the error. */
export function parseJsonArg(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON (${(err as Error).message}): ${text}`);
  }
}

/** A pattern argument: a JSON object for Nest's object patterns, otherwise the string itself. */
export function parsePatternArg(text: string): string | Record<string, unknown> {
  if (text.trim() === '') throw new UsageError('the pattern is empty');
  if (!text.trimStart().startsWith('{')) return text;
  const pattern = parseJsonArg(text, 'the pattern');
  if (pattern === null || typeof pattern !== 'object' || Array.isArray(pattern)) {
    throw new UsageError(`an object pattern must be a JSON object: ${text}`);
  }
  return pattern as Record<string, unknown>;
}

/** A whole number of milliseconds (or a count) from an option. */
export function parseCountArg(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`${option} must be a whole number, 0 or more (got ${JSON.stringify(text)})`);
  }
  return n;
}
