// Jest runs the TypeScript sources; an I/O thread (the ioThread option) loads them the same way.
import { join } from 'path';
import { ioThreadLaunch } from '../../src/iroh/io-thread-link';

ioThreadLaunch.execArgv = ['--require', join(__dirname, 'ts-register.js')];
