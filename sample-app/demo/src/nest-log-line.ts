/** Contexts of Nest's own start-up messages: hidden from the demo's output unless `--verbose`. */
const STARTUP_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
  'NestMicroservice',
]);

/** `[Nest] 1234  - 11/24/2026, 9:30:00 AM     LOG [Context] message` (colours off). */
const NEST_LINE = /^\[Nest\]\s+\d+\s+-\s+.*?\s+(LOG|ERROR|WARN|DEBUG|VERBOSE|FATAL)\s+\[([^\]]+)\]\s?(.*)$/;

export interface NestLogLine {
  level: string;
  context: string;
  message: string;
}

export function parseNestLogLine(line: string): NestLogLine | null {
  const match = NEST_LINE.exec(line);
  return match ? { level: match[1], context: match[2], message: match[3] } : null;
}

/**
 * A child's output line as the demo shows it: without Nest's pid and timestamp, the level
 * only when it is not LOG; null for start-up chatter unless `verbose`.
 */
export function displayLine(line: string, verbose: boolean): string | null {
  const parsed = parseNestLogLine(line);
  if (!parsed) return line;
  if (!verbose && parsed.level === 'LOG' && STARTUP_CONTEXTS.has(parsed.context)) return null;
  const level = parsed.level === 'LOG' ? '' : `${parsed.level} `;
  return `${level}[${parsed.context}] ${parsed.message}`;
}
