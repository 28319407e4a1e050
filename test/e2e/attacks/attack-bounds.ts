/**
 * The bounds the attack specs hold a server to, in one place so that they can be tuned
 * together. Each spec runs one attack against a server in a process of its own while a
 * well-behaved client calls it (test/support/attack-rig.ts), and checks three things: the
 * server's memory, the good client's calls, and what the attacker was told.
 *
 * They run on their own, one at a time, so that attacks share the machine's cores with
 * nothing else: `npm run test:attacks` (CI runs it after the suite). Those that use
 * {@link describeAttack} are skipped unless RUN_ATTACKS is set (each says why):
 *   RUN_ATTACKS=1 npm run test:attacks
 * ATTACK_RESULTS=<folder> writes each attack's measured figures there as JSON.
 */

import { AttackOutcome, mib } from '../../support/attack-rig';

const MiB = 1024 * 1024;

/** `describe` when RUN_ATTACKS is set, else `describe.skip`: for an attack the server does not yet meet every bound of. */
export const describeAttack = process.env.RUN_ATTACKS ? describe : describe.skip;

/**
 * The server's global budget for partly received messages, inflated payloads and frames
 * waiting their turn, over all connections: `maxReceiveMemory`'s default.
 */
export const MEMORY_BUDGET = 256 * MiB;

/**
 * What the server may use beyond the budget during an attack: the byte arrays the binding
 * hands over for each read (8 bytes of JS heap per byte received, until collected), Nest's
 * objects for the requests in flight, and the heap's own growth.
 */
export const MEMORY_MARGIN = 128 * MiB;

/** Peak RSS of the server during an attack, above its RSS before it. */
export const SERVER_MEMORY_BOUND = MEMORY_BUDGET + MEMORY_MARGIN;

/**
 * The slowest answer the good client (an echo every 250 ms, 2 s timeout) may get while an
 * attack runs: a correctness bound (other peers are still served, promptly), not a speed
 * target. Every one of its calls must succeed.
 */
export const GOOD_CLIENT_WORST_MS = 1000;

/** Close codes that tell an attacker clearly why it was cut off (src/protocol ErrorCode names). */
export const CLEAR_CLOSE_CODES = ['PROTOCOL_ERROR', 'LIMIT_EXCEEDED', 'MESSAGE_TOO_LARGE'];

/** The server's peak RSS stayed within {@link SERVER_MEMORY_BOUND} of its RSS before the attack. */
export function expectMemoryWithinBound(outcome: AttackOutcome): void {
  const { rssBefore, rssPeak, growth } = outcome.server;
  const figures = { rssBeforeMiB: mib(rssBefore), rssPeakMiB: mib(rssPeak), growthMiB: mib(growth), boundMiB: mib(SERVER_MEMORY_BOUND) };
  expect({ ...figures, withinBound: growth <= SERVER_MEMORY_BOUND }).toEqual({ ...figures, withinBound: true });
}

/** Every one of the good client's calls succeeded, none slower than {@link GOOD_CLIENT_WORST_MS}. */
export function expectGoodClientServed(outcome: AttackOutcome): void {
  const { sent, failed, failures, worstMs, longestGapMs } = outcome.good;
  expect(sent).toBeGreaterThan(0);
  const figures = { sent, longestGapMs, worstMs, boundMs: GOOD_CLIENT_WORST_MS };
  expect({ ...figures, failed, failures, worstWithinBound: worstMs <= GOOD_CLIENT_WORST_MS }).toEqual({
    ...figures,
    failed: 0,
    failures: {},
    worstWithinBound: true,
  });
}
