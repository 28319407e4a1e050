#!/usr/bin/env node
// A UDP relay that impairs the path between clients and one server, in user space (for
// kernels without the netem qdisc). Plain Node, no dependencies.
//
//   node udp-impairment-relay.js --listen HOST:PORT --upstream HOST:PORT
//        [--upstream-bind HOST] [--delay MS] [--loss FRACTION] [--seed N]
//
// Each client address (as seen on --listen) gets an upstream socket of its own, bound to
// --upstream-bind, from which its datagrams go to --upstream; the server's answers go back
// to that client (like a NAT). Every datagram, both ways, is dropped with probability
// --loss and otherwise delivered after --delay ms (order kept).
//
// Prints `READY <host:port>` once listening. Control by lines on stdin, each answered by
// one JSON line on stdout:
//   down            drop everything (the link is cut)       -> {"ok":true,"down":true,...}
//   up              deliver again                           -> {"ok":true,"down":false,...}
//   delay MS        set the delay
//   loss FRACTION   set the loss (0 to 1)
//   stats           counters so far
// SIGUSR1 toggles down/up as well. Exits when stdin closes or on SIGTERM.
'use strict';

const dgram = require('dgram');
const readline = require('readline');

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${key}`);
    args[key.slice(2)] = argv[i + 1];
  }
  return args;
}

function hostPort(text, what) {
  const at = String(text ?? '').lastIndexOf(':');
  const host = text.slice(0, at);
  const port = Number(text.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${what} must be host:port, got ${text}`);
  return { host, port };
}

/** mulberry32: a small seeded PRNG, so that a run's losses can be repeated. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fraction(value, what) {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`${what} must be a number from 0 to 1, got ${value}`);
  return n;
}

function millis(value, what) {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${what} must be 0 or more milliseconds, got ${value}`);
  return n;
}

const args = parseArgs(process.argv.slice(2));
const listen = hostPort(args.listen, '--listen');
const upstream = hostPort(args.upstream, '--upstream');
const upstreamBind = args['upstream-bind'];
const state = {
  delay: millis(args.delay ?? 0, '--delay'),
  loss: fraction(args.loss ?? 0, '--loss'),
  down: false,
  seed: Number(args.seed ?? Date.now() % 2 ** 31),
};
const random = prng(state.seed);
const counters = {
  toServer: { forwarded: 0, dropped: 0, droppedDown: 0 },
  toClient: { forwarded: 0, dropped: 0, droppedDown: 0 },
};

/** Client address -> its upstream socket. */
const flows = new Map();
const front = dgram.createSocket('udp4');

function impair(direction, deliver) {
  const count = counters[direction];
  if (state.down) {
    count.droppedDown++;
    return;
  }
  if (state.loss > 0 && random() < state.loss) {
    count.dropped++;
    return;
  }
  count.forwarded++;
  if (state.delay > 0) setTimeout(deliver, state.delay);
  else deliver();
}

function flowFor(address, port) {
  const key = `${address}:${port}`;
  let flow = flows.get(key);
  if (flow) return flow;
  const socket = dgram.createSocket('udp4');
  flow = { socket, ready: false, queue: [] };
  flows.set(key, flow);
  socket.on('message', msg => impair('toClient', () => front.send(msg, port, address, noop)));
  socket.on('error', err => process.stderr.write(`upstream socket for ${key}: ${err.message}\n`));
  socket.bind(0, upstreamBind, () => {
    flow.ready = true;
    for (const msg of flow.queue) socket.send(msg, upstream.port, upstream.host, noop);
    flow.queue = [];
  });
  return flow;
}

front.on('message', (msg, rinfo) => {
  const flow = flowFor(rinfo.address, rinfo.port);
  impair('toServer', () => {
    if (flow.ready) flow.socket.send(msg, upstream.port, upstream.host, noop);
    else flow.queue.push(msg);
  });
});
front.on('error', err => {
  process.stderr.write(`relay socket: ${err.message}\n`);
  process.exit(1);
});

function snapshot(extra) {
  return JSON.stringify({
    ok: true,
    ...extra,
    down: state.down,
    delay: state.delay,
    loss: state.loss,
    seed: state.seed,
    flows: flows.size,
    ...counters,
  });
}

function command(line) {
  const [word, value] = line.trim().split(/\s+/);
  try {
    switch (word) {
      case '':
        return null;
      case 'down':
        state.down = true;
        return snapshot({ at: Date.now() });
      case 'up':
        state.down = false;
        return snapshot({ at: Date.now() });
      case 'delay':
        state.delay = millis(value, 'delay');
        return snapshot();
      case 'loss':
        state.loss = fraction(value, 'loss');
        return snapshot();
      case 'stats':
        return snapshot();
      default:
        return JSON.stringify({ ok: false, error: `unknown command ${word}` });
    }
  } catch (err) {
    return JSON.stringify({ ok: false, error: err.message });
  }
}

function shutdown() {
  for (const flow of flows.values()) flow.socket.close();
  front.close();
  process.exit(0);
}

front.bind(listen.port, listen.host, () => {
  const { address, port } = front.address();
  process.stdout.write(`READY ${address}:${port}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', line => {
    const answer = command(line);
    if (answer) process.stdout.write(`${answer}\n`);
  });
  lines.on('close', shutdown);
});
process.on('SIGTERM', shutdown);
process.on('SIGUSR1', () => {
  state.down = !state.down;
  process.stderr.write(`link ${state.down ? 'down' : 'up'}\n`);
});

function noop() {}
