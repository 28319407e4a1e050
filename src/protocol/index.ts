export * from './frames';
export * from './limits';
export * from './errors';
export * from './codec';
export * from './payload';
export * from './frame-writer';
export * from './varint';
export * from './messages';
