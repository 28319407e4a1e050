import type { Histogram, Span } from '@opentelemetry/api';
import { CallTarget, MethodDescription, recordOutcome } from './call-attributes';
import { FailureReporter, endSpan } from './instruments';
import type { OpenTelemetryApi } from './opentelemetry-api';
import {
  ATTR_IROH_REPLY_VALUE_COUNT,
  ATTR_RPC_STATUS_CODE,
  CallOutcome,
  GRPC_OK,
  cancelledOutcome,
  outcomeOf,
} from './semantic-conventions';

/** What a call records into: its client's or server's instruments. */
export interface CallRecorder {
  readonly api: OpenTelemetryApi;
  readonly side: 'client' | 'server';
  readonly metricsLive: boolean;
  readonly duration: Histogram;
  readonly failures: FailureReporter;
  requestStarted(grpc: boolean): void;
  requestEnded(grpc: boolean): void;
}

/**
 * One call's span and duration, on either side: counts reply values, and on its end records
 * the duration, the outcome and ends the span, once.
 */
export abstract class RecordedCall {
  private values = 0;
  private ended = false;

  constructor(
    protected readonly recorder: CallRecorder,
    protected readonly method: MethodDescription,
    protected target: CallTarget,
    protected readonly span: Span,
    private readonly startedAt: number,
  ) {
    if (recorder.metricsLive && method.type !== 'event') recorder.requestStarted(method.grpc);
  }

  onValue(): void {
    this.values++;
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const failed = error !== undefined && error !== null;
    this.finish(failed ? outcomeOf(error, this.method.grpc, this.recorder.side) : undefined, error);
  }

  cancel(): void {
    if (this.ended) return;
    this.ended = true;
    this.finish(cancelledOutcome(this.method.grpc), undefined);
  }

  private finish(outcome: CallOutcome | undefined, error: unknown): void {
    const { recorder, method, span } = this;
    try {
      if (recorder.metricsLive) {
        recorder.duration.record((performance.now() - this.startedAt) / 1000, this.target.metrics.of(outcome));
        if (method.type !== 'event') recorder.requestEnded(method.grpc);
      }
      if (span.isRecording()) {
        if (method.type !== 'event') span.setAttribute(ATTR_IROH_REPLY_VALUE_COUNT, this.values);
        if (outcome) recordOutcome(recorder.api, span, outcome, error);
        else if (method.grpc) span.setAttribute(ATTR_RPC_STATUS_CODE, GRPC_OK);
      }
    } catch (err) {
      recorder.failures.report(err);
    }
    endSpan(span, recorder.failures);
  }
}

/** The start time of a call's duration, read only when metrics are recorded. */
export function callStart(recorder: CallRecorder): number {
  return recorder.metricsLive ? performance.now() : 0;
}
