/**
 * Partly received messages on many connections: 20 connections, each from an identity of
 * its own, announce a 16 MiB REQUEST and send 11 MiB of it, then hold. Every one is within
 * `maxMessageSize`; together they announce 320 MiB, past the receive memory (256 MiB): a
 * frame's announced length is reserved once its header has arrived, so the last four are
 * refused (LIMIT_EXCEEDED) while the first sixteen fit, and the server never holds more than
 * the budget for them. Besides what it holds, the server's RSS carries the byte arrays the
 * binding hands over for each read (8 bytes of JS heap per byte received until collected):
 * reads of at most 64 KiB and a few large frames read at a time keep that, and the event
 * loop's blocks, within the bounds.
 */
import { AttackOutcome, AttackRig, mib } from '../../support/attack-rig';
import { CLEAR_CLOSE_CODES, MEMORY_BUDGET, expectGoodClientServed, expectMemoryWithinBound } from './attack-bounds';

const MiB = 1024 * 1024;
const ATTACK = { connections: 20, announcedBytes: 16 * MiB, sentBytes: 11 * MiB, holdMs: 5000 };

describe('attack: many connections each holding a large, partly sent request', () => {
  const rig = new AttackRig();
  let outcome: AttackOutcome;

  beforeAll(async () => {
    outcome = await rig.run({ mode: 'partial-uploads', attack: ATTACK, tailMs: 1000, attackerTimeoutMs: 150_000 });
  }, 180_000);

  afterAll(() => rig.dispose(), 30_000);

  it('keeps the server within its memory budget plus margin', () => expectMemoryWithinBound(outcome));

  it('keeps answering the good client', () => expectGoodClientServed(outcome));

  it('holds no more than the receive memory for the partly received frames', () => {
    const { peak } = outcome.server.receiveMemory;
    expect({ peakMiB: mib(peak), withinBudget: peak <= MEMORY_BUDGET }).toEqual({ peakMiB: mib(peak), withinBudget: true });
  });

  it('refuses some of the uploads with a clear error', () => {
    const connections: any[] = outcome.attacker.connections;
    const refused = connections.filter(
      c => CLEAR_CLOSE_CODES.includes(c.closed?.codeName) || (c.errors.LIMIT_EXCEEDED ?? 0) + (c.errors.MESSAGE_TOO_LARGE ?? 0) > 0,
    );
    const seen = connections.map(c => ({ closed: c.closed?.codeName ?? null, errors: c.errors, goaways: c.goaways.length }));
    expect({ refused: refused.length > 0, seen }).toEqual({ refused: true, seen });
  });
});
