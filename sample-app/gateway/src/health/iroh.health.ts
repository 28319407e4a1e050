import { Injectable } from '@nestjs/common';
import { HealthCheckAttempt, HealthIndicatorService } from '@nestjs/terminus';
import { ClientIroh } from 'nestjs-iroh';
import { pingIrohPeer } from './iroh-ping';

export interface IrohPingCheckOptions {
  /** Milliseconds before the peer is reported down (default 1000). */
  timeout?: number;
  /**
   * Pattern of a request sent as the ping, where any reply counts. Default: the transport's
   * own PING frame, which needs no handler on the server.
   */
  pattern?: string;
}

/**
 * A terminus health indicator for iroh peers: `up` with the round-trip time and the path
 * (direct or relay) when the peer answers a ping in time, `down` with the reason otherwise.
 *
 * @example
 * this.health.check([() => this.iroh.pingCheck('orders', ordersClient, { timeout: 1500 })])
 */
@Injectable()
export class IrohHealthIndicator {
  constructor(private readonly healthIndicatorService: HealthIndicatorService) {}

  pingCheck<Key extends string>(key: Key, client: ClientIroh, options: IrohPingCheckOptions = {}): HealthCheckAttempt<Key> {
    return this.healthIndicatorService
      .check(key)
      .attempt(({ signal }) => pingIrohPeer(client, { pattern: options.pattern, timeout: options.timeout ?? 1000, signal }))
      .withTimeout(options.timeout ?? 1000);
  }
}
