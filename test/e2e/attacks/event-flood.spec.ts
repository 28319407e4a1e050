/**
 * A flood of events: one connection sends 200,000 EVENT frames (about 2 MB) within a
 * second to a handler that takes 100 ms. Events are fire-and-forget, so the attacker is
 * never answered; what bounds it is admission (`maxConcurrentEvents`, 1024 handlers per
 * connection) and backpressure: an event that finds no room waits, with the frames behind it,
 * and the server reads nothing more from that stream meanwhile, so QUIC flow control holds
 * the sender back (a write of its held back for a second or more).
 */
import { AttackOutcome, AttackRig } from '../../support/attack-rig';
import { CLEAR_CLOSE_CODES, expectGoodClientServed, expectMemoryWithinBound } from './attack-bounds';

/** Event handlers that may run at once for one connection (as `maxConcurrentRequests` bounds requests). */
const EVENT_HANDLERS_BOUND = 1024;

const ATTACK = { count: 200_000, overMs: 1000, observeMs: 8000 };

describe('attack: a flood of events to a slow handler', () => {
  const rig = new AttackRig();
  let outcome: AttackOutcome;

  beforeAll(async () => {
    outcome = await rig.run({ mode: 'events', attack: ATTACK, tailMs: 1000, attackerTimeoutMs: 60_000 });
  }, 120_000);

  afterAll(() => rig.dispose(), 30_000);

  it('keeps the server within its memory budget plus margin', () => expectMemoryWithinBound(outcome));

  it('keeps answering the good client', () => expectGoodClientServed(outcome));

  it('bounds the handlers and holds the attacker back or cuts it off', () => {
    const { eventsStarted, eventsPeak } = outcome.server.handlers;
    const { eventsSent, sendMs, heldBack, connections } = outcome.attacker;
    const closed = connections[0].closed;
    const figures = { eventsSent, eventsStarted, eventsPeak, sendMs, heldBack, closed };
    expect({
      ...figures,
      handlersBounded: eventsPeak <= EVENT_HANDLERS_BOUND,
      attackerStopped: heldBack || CLEAR_CLOSE_CODES.includes(closed?.codeName),
    }).toEqual({ ...figures, handlersBounded: true, attackerStopped: true });
  });
});
