export * from './endpoint';
export * from './errors';
export * from './keys';
export * from './ticket';
export * from './bytes';
export * from './release';
export * from './time-limit';
