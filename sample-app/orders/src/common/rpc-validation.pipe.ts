import { ValidationPipe } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';

/**
 * Validates message payloads against their DTO classes. A refused payload fails the request
 * with `{ status: 400, message, errors }`, which callers can map to an HTTP 400.
 */
export const rpcValidationPipe = new ValidationPipe({
  transform: true,
  whitelist: true,
  forbidNonWhitelisted: true,
  exceptionFactory: errors =>
    new RpcException({
      status: 400,
      message: 'Validation failed',
      errors: errors.flatMap(error => Object.values(error.constraints ?? {})),
    }),
});
