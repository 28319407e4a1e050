import type * as OpenTelemetryApiModule from '@opentelemetry/api';

/** The `@opentelemetry/api` module, as `require` returns it. */
export type OpenTelemetryApi = typeof OpenTelemetryApiModule;

/** undefined: not tried yet; null: not installed (or failed to load). */
let loaded: OpenTelemetryApi | null | undefined;

/**
 * `@opentelemetry/api` when the application has it installed, else null. It is an optional
 * peer dependency: it is required here, on the first server listen or client connect, never
 * when nestjs-iroh is imported, and the answer is kept for the life of the process.
 */
export function openTelemetryApi(): OpenTelemetryApi | null {
  if (loaded === undefined) {
    try {
      loaded = require('@opentelemetry/api') as OpenTelemetryApi;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/** The name and version spans and metrics are reported under (their instrumentation scope). */
export const INSTRUMENTATION_SCOPE = 'nestjs-iroh';

let scopeVersion: string | undefined | null = null;

/** nestjs-iroh's version from its package.json, or undefined when it cannot be read. */
export function instrumentationVersion(): string | undefined {
  if (scopeVersion === null) {
    try {
      // dist/observability/ and src/observability/ are both two levels below the package root.
      const manifest = require('../../package.json') as { version?: unknown };
      scopeVersion = typeof manifest.version === 'string' ? manifest.version : undefined;
    } catch {
      scopeVersion = undefined;
    }
  }
  return scopeVersion;
}
