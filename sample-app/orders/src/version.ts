/** The orders service's release, reported by `health.check`. */
export const ORDERS_SERVICE_VERSION = '1.0.0';
