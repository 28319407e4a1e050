/** One HTTP call of the demo and what the gateway should answer. */
interface Step {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  status: number;
  /** Further checks of the answer; returns what is wrong, or null. */
  check?: (body: any) => string | null;
}

export interface ScenarioResult {
  calls: number;
  failed: number;
}

export interface ScenarioOptions {
  /**
   * One service instance: an order placed can be read back and is in the list. With several,
   * each keeps its own orders and the next call may go to another, so those checks are left out.
   */
  oneInstance: boolean;
}

/**
 * Calls the gateway the way a user would: health, an order placed, read back, refused by
 * validation, not found, cancelled (an event), listed (a streamed reply), and the service's
 * own status report. Prints each call with its answer.
 */
export async function runScenario(
  baseUrl: string,
  transport: string,
  print: (line: string) => void,
  options: ScenarioOptions = { oneInstance: true },
): Promise<ScenarioResult> {
  const results: ScenarioResult = { calls: 0, failed: 0 };
  const run = async (step: Step): Promise<any> => {
    const outcome = await call(baseUrl, step);
    results.calls++;
    if (outcome.problem) results.failed++;
    print(formatCall(step, outcome));
    return outcome.body;
  };

  await run({ method: 'GET', path: '/health', status: 200, check: b => expect(b.info?.orders?.status === 'up', 'orders is not up') });
  const created = await run({
    method: 'POST',
    path: '/orders',
    body: { item: 'coffee beans', quantity: 2 },
    status: 201,
    check: b => expect(Number.isInteger(b.id) && b.status === 'placed', 'no placed order with an id'),
  });
  const id: number = Number.isInteger(created?.id) ? created.id : 1;
  if (options.oneInstance) {
    await run({ method: 'GET', path: `/orders/${id}`, status: 200, check: b => expect(b.item === 'coffee beans', 'wrong order') });
  }
  await run({
    method: 'POST',
    path: '/orders',
    body: { item: '', quantity: 0 },
    status: 400,
    check: b => expect(Array.isArray(b.errors) && b.errors.length === 2, 'expected two validation errors'),
  });
  await run({ method: 'GET', path: '/orders/999999', status: 404 });
  await run({ method: 'POST', path: `/orders/${id}/cancel`, status: 202 });
  await run({
    method: 'GET',
    path: '/orders',
    status: 200,
    check: b => expect(Array.isArray(b) && (!options.oneInstance || b.some((o: any) => o.id === id)), `order ${id} not listed`),
  });
  await run({
    method: 'GET',
    path: '/status',
    status: 200,
    check: b => expect(b.transport === transport && b.orders?.status === 'ok', `not an ok report over ${transport}`),
  });
  return results;
}

interface Outcome {
  status: number | null;
  body: any;
  text: string;
  problem: string | null;
}

async function call(baseUrl: string, step: Step): Promise<Outcome> {
  let response: Response;
  try {
    response = await fetch(baseUrl + step.path, {
      method: step.method,
      headers: step.body === undefined ? undefined : { 'content-type': 'application/json' },
      body: step.body === undefined ? undefined : JSON.stringify(step.body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    return { status: null, body: null, text: '', problem: `no answer: ${(err as Error).message}` };
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the check below reports the text.
  }
  let problem = response.status === step.status ? null : `expected ${step.status}`;
  if (!problem && step.check) problem = step.check(body ?? {});
  return { status: response.status, body, text, problem };
}

function expect(ok: boolean, problem: string): string | null {
  return ok ? null : problem;
}

const MAX_ANSWER = 110;

function formatCall(step: Step, outcome: Outcome): string {
  const request = `${step.method} ${step.path}${step.body === undefined ? '' : ' ' + JSON.stringify(step.body)}`;
  const answer = outcome.text.length > MAX_ANSWER ? outcome.text.slice(0, MAX_ANSWER - 1) + '…' : outcome.text;
  const mark = outcome.problem ? `FAILED (${outcome.problem})` : 'ok';
  return `  ${request}\n    → ${outcome.status ?? '---'} ${answer}  ${mark}`;
}
