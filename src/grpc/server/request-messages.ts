import { Observable, Subject } from 'rxjs';

type Notification = { kind: 'N'; value: unknown } | { kind: 'E'; error: unknown } | { kind: 'C' };

/**
 * The request messages of a call, as the Observable an `@GrpcStreamMethod` handler receives.
 * Messages that arrive before the handler subscribes (guards and interceptors run first) are
 * kept and replayed to its first subscription, as Nest's gRPC server does; after that the
 * messages are multicast as they come.
 */
export class RequestMessages {
  private readonly subject = new Subject<unknown>();
  private pending: Notification[] | null = [];
  private settled = false;

  readonly observable: Observable<unknown> = new Observable(subscriber => {
    const subscription = this.subject.subscribe(subscriber);
    const pending = this.pending;
    this.pending = null;
    if (pending) for (const n of pending) this.deliver(n);
    return subscription;
  });

  next(value: unknown): void {
    this.push({ kind: 'N', value });
  }

  error(error: unknown): void {
    this.push({ kind: 'E', error });
  }

  complete(): void {
    this.push({ kind: 'C' });
  }

  private push(notification: Notification): void {
    if (this.settled) return;
    if (notification.kind !== 'N') this.settled = true;
    if (this.pending) this.pending.push(notification);
    else this.deliver(notification);
  }

  private deliver(notification: Notification): void {
    if (notification.kind === 'N') this.subject.next(notification.value);
    else if (notification.kind === 'E') this.subject.error(notification.error);
    else this.subject.complete();
  }
}
