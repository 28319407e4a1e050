// Runs one attack and prints its figures, without judging them: for measuring a case that
// has no spec (the slow reader) and for re-measuring an attack with other parameters.
//
//   node -r ./test/support/ts-register.js test/e2e/attacks/measure.ts <mode> [attack JSON] [server options JSON] [follow-ups]
//
// e.g. `... measure.ts slow-reader '{"durationMs":45000}'` (a client that never reads its
// replies, against the default writeStallTimeout and incompleteFrameTimeout of 30 s).
// After the attack the server's handler count and memory are polled `follow-ups` times
// (default 4), 3 s apart: work the server still does for a peer that is gone shows there.
import { AttackRig, mib } from '../../support/attack-rig';

async function main(): Promise<void> {
  const [mode, attack = '{}', serverOptions = '{}', followUps = '4'] = process.argv.slice(2);
  if (!mode) throw new Error('usage: measure.ts <mode> [attack JSON] [server options JSON] [follow-ups]');
  const rig = new AttackRig();
  try {
    const outcome = await rig.run({ mode, attack: JSON.parse(attack), serverOptions: JSON.parse(serverOptions), tailMs: 200 });
    process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    const started = Date.now();
    for (let i = 0; i < Number(followUps); i++) {
      await new Promise(r => setTimeout(r, 3000));
      const stats = await rig.serverStats();
      const { requests, eventsRunning } = stats.handlers;
      process.stdout.write(
        `+${Date.now() - started} ms: requests handled ${requests}, events running ${eventsRunning}, ` +
          `RSS ${mib(stats.memory.rss)} MiB, peers ${stats.peers}, stalls ${JSON.stringify(stats.stalls.slice(-3))}\n`,
      );
    }
  } finally {
    await rig.dispose();
  }
}

main().then(
  () => process.exit(0),
  err => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
