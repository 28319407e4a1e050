/**
 * Frames kept open by a trickle: 4 connections each announce a 15.9 MiB REQUEST, send
 * 4 MiB of it, then one byte every 2 s. `incompleteFrameTimeout` counts from the frame's
 * start, so a trickle does not keep a frame alive past it: each connection must be closed
 * within the timeout (plus the sweep's interval and the GOAWAY's delivery) of its frame's
 * start. The server's timeout is 8 s here (30 s by default) so that the spec is short; the
 * trickle is well inside it.
 */
import { AttackOutcome, AttackRig } from '../../support/attack-rig';
import { CLEAR_CLOSE_CODES, expectGoodClientServed, expectMemoryWithinBound } from './attack-bounds';

const MiB = 1024 * 1024;
const INCOMPLETE_FRAME_TIMEOUT = 8000;
/** The stall sweep runs every second; the GOAWAY is given up to a second to arrive; the machine is shared. */
const CLOSE_SLACK_MS = 3000;
const ATTACK = { connections: 4, announcedBytes: Math.floor(15.9 * MiB), sentBytes: 4 * MiB, everyMs: 2000, durationMs: 20_000 };

describe('attack: partly sent frames kept open by a trickle', () => {
  const rig = new AttackRig();
  let outcome: AttackOutcome;

  beforeAll(async () => {
    outcome = await rig.run({
      mode: 'trickle',
      attack: ATTACK,
      serverOptions: { incompleteFrameTimeout: INCOMPLETE_FRAME_TIMEOUT },
      tailMs: 1000,
      attackerTimeoutMs: 60_000,
    });
  }, 120_000);

  afterAll(() => rig.dispose(), 30_000);

  it('keeps the server within its memory budget plus margin', () => expectMemoryWithinBound(outcome));

  it('keeps answering the good client', () => expectGoodClientServed(outcome));

  it('closes every trickling connection within incompleteFrameTimeout of its frame start', () => {
    const connections: any[] = outcome.attacker.connections;
    const perConnection: any[] = outcome.attacker.perConnection;
    const seen = perConnection.map((p, i) => ({
      closedAfterFrameStartMs: p.closedAfterFrameStartMs,
      trickled: p.trickled,
      code: connections[i].closed?.codeName ?? null,
    }));
    expect(seen).toHaveLength(ATTACK.connections);
    const expected = seen.map(s => ({
      ...s,
      closedAfterFrameStartMs: expect.any(Number),
      code: expect.stringMatching(new RegExp(`^(${CLEAR_CLOSE_CODES.join('|')})$`)),
    }));
    expect(seen).toEqual(expected);
    for (const s of seen) expect(s.closedAfterFrameStartMs).toBeLessThanOrEqual(INCOMPLETE_FRAME_TIMEOUT + CLOSE_SLACK_MS);
  });
});
