import { createSocket } from 'dgram';

/** One instance the rolling restart restarts: it stops (draining) and starts again. */
export interface RestartTarget {
  label: string;
  restart(): Promise<void>;
}

export interface RollingRestartResult {
  calls: number;
  failed: number;
  /** Answers per instance endpoint id. */
  answeredBy: Map<string, number>;
  /** What went wrong, first few. */
  failures: string[];
}

const WORKERS = 4;
const CALL_TIMEOUT_MS = 10_000;

/**
 * Calls the gateway without pause (`GET /status`, which names the instance that answered)
 * while the instances restart one after the other, each given a second to be found again.
 */
export async function rollingRestart(
  baseUrl: string,
  targets: RestartTarget[],
  say: (line: string) => void,
): Promise<RollingRestartResult> {
  const result: RollingRestartResult = { calls: 0, failed: 0, answeredBy: new Map(), failures: [] };
  let calling = true;
  const worker = async () => {
    while (calling) {
      const problem = await callOnce(baseUrl, result);
      result.calls++;
      if (problem) {
        result.failed++;
        if (result.failures.length < 5) result.failures.push(problem);
      }
    }
  };
  const workers = Array.from({ length: WORKERS }, worker);
  await sleep(500);
  for (const target of targets) {
    say(`Restarting ${target.label} (SIGTERM: it drains and exits, then starts again with the same key and port)…`);
    await target.restart();
    await sleep(1000);
  }
  calling = false;
  await Promise.all(workers);
  return result;
}

async function callOnce(baseUrl: string, result: RollingRestartResult): Promise<string | null> {
  try {
    const response = await fetch(`${baseUrl}/status`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    const body = (await response.json()) as { orders?: { endpointId?: string } };
    if (response.status !== 200) return `GET /status → ${response.status} ${JSON.stringify(body)}`;
    const id = body.orders?.endpointId ?? 'unknown';
    result.answeredBy.set(id, (result.answeredBy.get(id) ?? 0) + 1);
    return null;
  } catch (err) {
    return `GET /status: ${(err as Error).message}`;
  }
}

/** A UDP port on 127.0.0.1 that was free a moment ago: an instance keeps it across restarts. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
