/**
 * Partly received messages on many connections: 20 connections, each from an identity of
 * its own, announce a 16 MiB REQUEST and send 11 MiB of it, then hold. Every one is within
 * `maxMessageSize`; together they announce 320 MiB, past the memory budget (256 MiB), so
 * some of them must be refused (the largest or oldest) rather than the good client starved.
 * The 220 MiB actually sent is under the budget: the refusal expected here comes from
 * counting a frame's announced length against the budget once its header has arrived. A
 * budget that counts only the bytes received needs a smaller budget in `serverOptions`.
 */
import { AttackOutcome, AttackRig } from '../../support/attack-rig';
import { CLEAR_CLOSE_CODES, describeAttack, expectGoodClientServed, expectMemoryWithinBound } from './attack-bounds';

const MiB = 1024 * 1024;
const ATTACK = { connections: 20, announcedBytes: 16 * MiB, sentBytes: 11 * MiB, holdMs: 5000 };

describeAttack('attack: many connections each holding a large, partly sent request', () => {
  const rig = new AttackRig();
  let outcome: AttackOutcome;

  beforeAll(async () => {
    outcome = await rig.run({ mode: 'partial-uploads', attack: ATTACK, tailMs: 1000, attackerTimeoutMs: 150_000 });
  }, 180_000);

  afterAll(() => rig.dispose(), 30_000);

  it('keeps the server within its memory budget plus margin', () => expectMemoryWithinBound(outcome));

  it('keeps answering the good client', () => expectGoodClientServed(outcome));

  it('refuses some of the uploads with a clear error', () => {
    const connections: any[] = outcome.attacker.connections;
    const refused = connections.filter(
      c => CLEAR_CLOSE_CODES.includes(c.closed?.codeName) || (c.errors.LIMIT_EXCEEDED ?? 0) + (c.errors.MESSAGE_TOO_LARGE ?? 0) > 0,
    );
    const seen = connections.map(c => ({ closed: c.closed?.codeName ?? null, errors: c.errors, goaways: c.goaways.length }));
    expect({ refused: refused.length > 0, seen }).toEqual({ refused: true, seen });
  });
});
