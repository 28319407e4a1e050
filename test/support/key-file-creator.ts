// Child process for the key file tests: waits until START_AT (ms since the epoch) so that
// several creators race, then loads or creates KEY_FILE and prints `ID <endpoint id>`, or
// `ERROR <message>`.
import { endpointIdOf, loadOrCreateKeyFile } from '../../src/iroh/keys';

const startAt = Number(process.env.START_AT ?? 0);
while (Date.now() < startAt) {
  // Busy wait: a timer would let the creators start up to a few ms apart.
}
try {
  console.log(`ID ${endpointIdOf(loadOrCreateKeyFile(process.env.KEY_FILE!))}`);
} catch (err) {
  console.log(`ERROR ${(err as Error).message}`);
}
