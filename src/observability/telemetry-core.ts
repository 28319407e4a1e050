import type {
  BatchObservableResult,
  Counter,
  Histogram,
  Meter,
  Observable,
  ObservableCounter,
  ObservableGauge,
  ObservableUpDownCounter,
  Tracer,
  UpDownCounter,
} from '@opentelemetry/api';
import { MethodTable } from './call-attributes';
import {
  FailureReporter,
  RECEIVE,
  SYSTEM_ONLY,
  TRANSMIT,
  durationHistogram,
  metricsAreLive,
  takeInstrumentation,
  tracingProbe,
} from './instruments';
import type { OpenTelemetryApi } from './opentelemetry-api';
import type { CallRecorder } from './recorded-call';
import {
  ATTR_IROH_PATH,
  ATTR_SERVER_ADDRESS,
  METRIC_CLIENT_CONNECTION_RTT,
  METRIC_CLIENT_RECONNECTS,
  SIDE_METRICS,
  SYSTEM_GRPC,
  SYSTEM_NESTJS_IROH,
} from './semantic-conventions';
import type { PeerPathObservation } from './telemetry';

/**
 * What a client's and a server's telemetry share: the tracer, the meter's instruments, the
 * methods described so far. Requests in flight and bytes are plain numbers the instruments
 * read when metrics are collected, so a request or a write makes no SDK call for them.
 */
export abstract class TelemetryCore implements CallRecorder {
  readonly enabled = true;
  readonly tracer: Tracer;
  readonly methods: MethodTable;
  readonly failures: FailureReporter;
  readonly duration: Histogram;
  readonly metricsLive: boolean;
  /** Whether a TracerProvider is registered now (the tracer is a proxy: it can change). */
  protected readonly tracingLive: () => boolean;
  private readonly inFlight = { [SYSTEM_NESTJS_IROH]: 0, [SYSTEM_GRPC]: 0 };
  private grpcSeen = false;
  private sent = 0;
  private received = 0;
  private readonly activeRequests: ObservableUpDownCounter;
  private readonly io: ObservableCounter;
  private readonly connections: UpDownCounter;
  private readonly losses: Counter;
  private readonly reconnects: Counter | undefined;
  private readonly rtt: ObservableGauge | undefined;
  private peerSource: (() => Iterable<PeerPathObservation>) | undefined;
  private readonly meter: Meter;
  private readonly observed: Observable[];
  private observing = false;

  constructor(
    readonly api: OpenTelemetryApi,
    readonly side: 'client' | 'server',
  ) {
    const { tracer, meter } = takeInstrumentation(api);
    const names = SIDE_METRICS[side];
    this.tracer = tracer;
    this.tracingLive = tracingProbe(api);
    this.methods = new MethodTable(api, side === 'client');
    this.failures = new FailureReporter(api);
    this.duration = durationHistogram(meter, names.duration, names.durationDescription);
    this.metricsLive = metricsAreLive(api, this.duration);
    this.activeRequests = meter.createObservableUpDownCounter(names.activeRequests, {
      unit: '{request}',
      description: names.activeRequestsDescription,
    });
    this.io = meter.createObservableCounter(names.io, { unit: 'By', description: names.ioDescription });
    this.connections = meter.createUpDownCounter(names.connections, { unit: '{connection}', description: names.connectionsDescription });
    this.losses = meter.createCounter(names.losses, { unit: '{connection}', description: names.lossesDescription });
    this.observed = [this.activeRequests, this.io];
    if (side === 'client') {
      this.reconnects = meter.createCounter(METRIC_CLIENT_RECONNECTS, {
        unit: '{connection}',
        description: 'Connections made again after a loss',
      });
      this.rtt = meter.createObservableGauge(METRIC_CLIENT_CONNECTION_RTT, {
        unit: 's',
        description: 'Round-trip time to each server on the selected path',
      });
      this.observed.push(this.rtt);
    }
    this.meter = meter;
    if (this.metricsLive) {
      meter.addBatchObservableCallback(this.observe, this.observed);
      this.observing = true;
    }
  }

  requestStarted(grpc: boolean): void {
    if (grpc) {
      this.inFlight[SYSTEM_GRPC]++;
      this.grpcSeen = true;
    } else {
      this.inFlight[SYSTEM_NESTJS_IROH]++;
    }
  }

  requestEnded(grpc: boolean): void {
    this.inFlight[grpc ? SYSTEM_GRPC : SYSTEM_NESTJS_IROH]--;
  }

  connectionOpened(reconnect = false): void {
    if (!this.metricsLive) return;
    this.connections.add(1);
    if (reconnect) this.reconnects?.add(1);
  }

  connectionClosed(lost = false): void {
    if (!this.metricsLive) return;
    this.connections.add(-1);
    if (lost) this.losses.add(1);
  }

  /** The byte totals are read only by the metric reader's callback. */
  get countsBytes(): boolean {
    return this.metricsLive;
  }

  bytesSent(bytes: number): void {
    if (bytes > 0) this.sent += bytes;
  }

  bytesReceived(bytes: number): void {
    if (bytes > 0) this.received += bytes;
  }

  observePeers(source: () => Iterable<PeerPathObservation>): void {
    this.peerSource = source;
  }

  dispose(): void {
    this.peerSource = undefined;
    if (!this.observing) return;
    this.observing = false;
    try {
      this.meter.removeBatchObservableCallback(this.observe, this.observed);
    } catch (err) {
      this.failures.report(err);
    }
  }

  private readonly observe = (result: BatchObservableResult): void => {
    result.observe(this.activeRequests, this.inFlight[SYSTEM_NESTJS_IROH], SYSTEM_ONLY[SYSTEM_NESTJS_IROH]);
    if (this.grpcSeen) result.observe(this.activeRequests, this.inFlight[SYSTEM_GRPC], SYSTEM_ONLY[SYSTEM_GRPC]);
    result.observe(this.io, this.sent, TRANSMIT);
    result.observe(this.io, this.received, RECEIVE);
    const source = this.peerSource;
    if (!source || !this.rtt) return;
    try {
      for (const peer of source()) {
        if (!Number.isFinite(peer.rttMs)) continue;
        result.observe(this.rtt, peer.rttMs / 1000, { [ATTR_SERVER_ADDRESS]: peer.endpointId, [ATTR_IROH_PATH]: peer.path });
      }
    } catch (err) {
      this.failures.report(err);
    }
  };
}
