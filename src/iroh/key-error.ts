/** A secret key or key file that cannot be used; the message never repeats the key. */
export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}
