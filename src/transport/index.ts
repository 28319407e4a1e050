export * from './frame-stream';
