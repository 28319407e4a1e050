import { performance } from 'perf_hooks';
import { setTimeout as sleep } from 'timers/promises';
import { CliError, ExitCode, oneLine } from '../errors';
import { parseCountArg, parsePatternArg } from '../json-args';
import { NETWORK_OPTIONS } from '../network-options';
import type { ConnectionPath } from '../connection-path';
import { Command } from './command';

/**
 * Times round trips to the peer: each ping is a protocol PING frame answered by the
 * transport itself (no handler needed), or with `--pattern` a request to that pattern,
 * where any answer counts, an error reply included. Prints the path each took.
 */
export const ping: Command = {
  args: ['peer'],
  options: [...NETWORK_OPTIONS, 'timeout', 'count', 'interval', 'pattern'],
  async run([peer], options, io) {
    const count = parseCountArg(options.count, '--count', 4);
    const intervalMs = parseCountArg(options.interval, '--interval', 1000);
    const timeoutMs = parseCountArg(options.timeout, '--timeout', 5000);
    const pattern = options.pattern === undefined ? undefined : parsePatternArg(options.pattern);
    const { peerEndpointId, withPeerClient } = await import('../peer-client');
    const { firstReply } = await import('../replies');
    const { pathOf, describePath } = await import('../connection-path');
    const endpointId = peerEndpointId(peer);
    const shortId = endpointId.slice(0, 10);
    const rtts: number[] = [];
    let sent = 0;

    const connectStarted = performance.now();
    await withPeerClient(peer, options, async client => {
      await client.connect();
      const connectMs = performance.now() - connectStarted;
      io.out(`connected to ${endpointId} in ${ms(connectMs)}, ${describePath(pathOf(await client.ping({ timeout: timeoutMs })))}`);
      while ((count === 0 || sent < count) && !io.signal.aborted) {
        if (sent > 0) await sleep(intervalMs, undefined, { signal: io.signal }).catch(() => undefined);
        if (io.signal.aborted) break;
        const seq = ++sent;
        const started = performance.now();
        let rtt: number;
        let path: ConnectionPath;
        try {
          if (pattern === undefined) {
            const result = await client.ping({ timeout: timeoutMs });
            rtt = result.rttMs;
            path = pathOf(result);
          } else {
            await firstReply(client.send(pattern, {}), { timeoutMs, signal: io.signal });
            rtt = performance.now() - started;
            path = pathOf(await client.ping({ timeout: timeoutMs }));
          }
        } catch (err) {
          if (io.signal.aborted) {
            sent--;
            break;
          }
          io.out(`no reply from ${shortId}: seq=${seq} ${oneLine((err as Error).message)}`);
          continue;
        }
        rtts.push(rtt);
        io.out(`reply from ${shortId}: seq=${seq} time=${ms(rtt)} ${describePath(path)}`);
      }
    });

    const lost = sent - rtts.length;
    const summary = `--- ${shortId}: ${sent} sent, ${rtts.length} answered, ${lost} lost`;
    if (rtts.length === 0) {
      io.out(summary);
      throw new CliError(`no answer from ${endpointId}`);
    }
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    io.out(`${summary}; round trip min/avg/max = ${ms(Math.min(...rtts))} / ${ms(avg)} / ${ms(Math.max(...rtts))}`);
    return ExitCode.OK;
  },
};

function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}
