/**
 * Valid compressed requests that inflate to just under the size limit: one connection sends
 * 100 requests of 16 KB each, every one inflating to 16 MiB - 1 KiB. None is malformed, but
 * together they are 1.6 GiB of inflated payload from one peer: inflated bytes count against
 * the memory budget and the peer's work budget, so past those the requests are refused
 * (LIMIT_EXCEEDED) instead of inflated, and every request still gets an answer. The
 * requests go to `size`, whose reply is a number, so that what the server spends is the
 * inflation and parsing of the requests, not compressing 16 MiB replies.
 */
import { AttackOutcome, AttackRig } from '../../support/attack-rig';
import { CLEAR_CLOSE_CODES, describeAttack, expectGoodClientServed, expectMemoryWithinBound } from './attack-bounds';

const ATTACK = { count: 100, pattern: 'size', observeMs: 30_000 };

describeAttack('attack: valid requests that inflate to just under the limit', () => {
  const rig = new AttackRig();
  let outcome: AttackOutcome;

  beforeAll(async () => {
    outcome = await rig.run({ mode: 'inflate', attack: ATTACK, tailMs: 1000, attackerTimeoutMs: 90_000 });
  }, 150_000);

  afterAll(() => rig.dispose(), 30_000);

  it('keeps the server within its memory budget plus margin', () => expectMemoryWithinBound(outcome));

  it('keeps answering the good client', () => expectGoodClientServed(outcome));

  it('refuses the requests past the budget with a clear error, answering every one', () => {
    const { answered, requests, connections } = outcome.attacker;
    const { closed, errors } = connections[0];
    const cutOff = CLEAR_CLOSE_CODES.includes(closed?.codeName);
    const figures = { requests, answered, errors, closed: closed?.codeName ?? null };
    expect({
      ...figures,
      refused: cutOff || (errors.LIMIT_EXCEEDED ?? 0) > 0,
      noneLost: cutOff || answered === requests,
    }).toEqual({ ...figures, refused: true, noneLost: true });
  });
});
