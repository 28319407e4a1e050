/**
 * `IROH_TEST_IO_THREAD=1` runs the suite with every test endpoint in an I/O thread
 * (`ioThread: true`). Read here, by the test helpers only: the sources never read it.
 */
export const IO_THREAD = process.env.IROH_TEST_IO_THREAD === '1';

/** Spread into the options of a test endpoint. */
export const IO_THREAD_OPTION: { ioThread?: boolean } = IO_THREAD ? { ioThread: true } : {};
