import { BadGatewayException, GatewayTimeoutException, HttpException, ServiceUnavailableException } from '@nestjs/common';
import { MonoTypeOperatorFunction, TimeoutError, catchError, pipe, throwError, timeout } from 'rxjs';

/**
 * Turns a failed call to the orders service into the HTTP error the gateway answers with:
 * the service's own `{ status: 4xx, … }` errors keep their status, a transport failure is
 * 503, no reply within `timeoutMs` is 504, anything else 502.
 */
export function rpcToHttp<T>(timeoutMs: number): MonoTypeOperatorFunction<T> {
  return pipe(
    timeout({ first: timeoutMs }),
    catchError(err => throwError(() => httpErrorOf(err, timeoutMs))),
  );
}

function httpErrorOf(err: unknown, timeoutMs: number): HttpException {
  if (err instanceof TimeoutError) {
    return new GatewayTimeoutException(`the orders service did not answer within ${timeoutMs} ms`);
  }
  // Errors the service sends are plain values; an Error instance means the call never got through.
  if (err instanceof Error) {
    return new ServiceUnavailableException(`the orders service is unreachable: ${err.message}`);
  }
  if (isServiceError(err)) {
    const { status, ...rest } = err;
    return new HttpException({ statusCode: status, ...rest }, status);
  }
  return new BadGatewayException({ statusCode: 502, message: 'the orders service failed', error: err });
}

function isServiceError(err: unknown): err is { status: number; message?: string } {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
