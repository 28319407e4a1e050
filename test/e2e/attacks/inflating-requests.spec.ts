/**
 * Valid compressed requests that inflate to just under the size limit: one connection sends
 * 100 requests of 16 KB each, every one inflating to 16 MiB - 1 KiB. None is malformed, but
 * together they are 1.6 GiB of inflated payload from one peer. Each is inflated on zlib's
 * thread pool in slices (the event loop stays free), its output counted against the receive
 * memory, and the peer's inflating paced by `maxInflateRatePerPeer` (64 MiB/s, bursts of
 * 64 MiB): its stream waits while it is past its rate and reads nothing more meanwhile. So
 * every request is answered, and the last no sooner than the rate allows. The requests go to
 * `size`, whose reply is a number, so that what the server spends is the inflation and
 * parsing of the requests, not compressing 16 MiB replies.
 */
import { AttackOutcome, AttackRig } from '../../support/attack-rig';
import { expectGoodClientServed, expectMemoryWithinBound } from './attack-bounds';

const MiB = 1024 * 1024;
const ATTACK = { count: 100, pattern: 'size', observeMs: 60_000 };
/** The server's default inflate rate per peer, and its burst. */
const INFLATE_RATE = 64 * MiB;
const INFLATE_BURST = 64 * MiB;
/** The earliest the last reply can come at that rate (less a tenth for the timer's rounding). */
const PACED_MS = (((ATTACK.count * 16 * MiB - INFLATE_BURST) / INFLATE_RATE) * 1000 * 9) / 10;

describe('attack: valid requests that inflate to just under the limit', () => {
  const rig = new AttackRig();
  let outcome: AttackOutcome;

  beforeAll(async () => {
    outcome = await rig.run({ mode: 'inflate', attack: ATTACK, tailMs: 1000, attackerTimeoutMs: 90_000 });
  }, 150_000);

  afterAll(() => rig.dispose(), 30_000);

  it('keeps the server within its memory budget plus margin', () => expectMemoryWithinBound(outcome));

  it('keeps answering the good client', () => expectGoodClientServed(outcome));

  it("answers every request, inflated no faster than the peer's rate", () => {
    const { answered, requests, lastReplyAfterMs, connections } = outcome.attacker;
    const { closed, errors, frames } = connections[0];
    const figures = { requests, answered, responses: frames.RESPONSE ?? 0, errors, closed: closed?.codeName ?? null };
    expect({ ...figures, paced: lastReplyAfterMs >= PACED_MS }).toEqual({
      requests,
      answered: requests,
      responses: requests,
      errors: {},
      closed: null,
      paced: true,
    });
  });
});
