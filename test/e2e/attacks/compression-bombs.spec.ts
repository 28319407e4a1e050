/**
 * Compression bombs on fresh streams: one connection keeps 16 streams busy, each carrying
 * 32 REQUESTs that inflate past the size limit, then opens fresh ones. The budget of bad
 * messages belongs to the connection, not to a stream, so the connection is closed after a
 * bounded number of bombs, however many streams it opens; and the peer's inflate rate
 * (`maxInflateRatePerPeer`) paces the inflating meanwhile. The attack runs 10 s.
 */
import { AttackOutcome, AttackRig } from '../../support/attack-rig';
import { CLEAR_CLOSE_CODES, expectGoodClientServed, expectMemoryWithinBound } from './attack-bounds';

/** Bad messages one connection may send before it is closed. */
const BAD_MESSAGE_BUDGET = 32;
/** Bombs inflated before the close takes effect: the budget, plus those being inflated on other streams. */
const BOMBS_INFLATED_BOUND = 2 * BAD_MESSAGE_BUDGET;
const ATTACK = { streams: 16, perStream: BAD_MESSAGE_BUDGET, durationMs: 10_000 };

describe('attack: compression bombs spread over fresh streams', () => {
  const rig = new AttackRig();
  let outcome: AttackOutcome;

  beforeAll(async () => {
    outcome = await rig.run({ mode: 'bombs', attack: ATTACK, tailMs: 1000, attackerTimeoutMs: 60_000 });
  }, 120_000);

  afterAll(() => rig.dispose(), 30_000);

  it('keeps the server within its memory budget plus margin', () => expectMemoryWithinBound(outcome));

  it('keeps answering the good client', () => expectGoodClientServed(outcome));

  it('closes the connection after a bounded number of bombs', () => {
    const { bombsSent, streamsUsed, connections } = outcome.attacker;
    const { closed, errors } = connections[0];
    // The server answers each bomb it inflated with MESSAGE_TOO_LARGE.
    const inflated = errors.MESSAGE_TOO_LARGE ?? 0;
    const figures = { bombsSent, streamsUsed, inflated, closed: closed?.codeName ?? null };
    expect({
      ...figures,
      closedClearly: CLEAR_CLOSE_CODES.includes(closed?.codeName),
      inflatedBounded: inflated <= BOMBS_INFLATED_BOUND,
    }).toEqual({ ...figures, closedClearly: true, inflatedBounded: true });
  });
});
