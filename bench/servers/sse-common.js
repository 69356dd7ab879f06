'use strict';
// Shared by the SSE bench servers (sse-*.js): the payload and the tick loop.
//
// Payload (the convention bench/sse-load expects): each event's data is
//   {"seq":<n>,"t":<epoch microseconds, CLOCK_REALTIME, integer>}
// built once per tick and sent to every client. seq starts at 1 and increases by one
// per tick. The tick loop starts as soon as the server listens (with or without
// clients); the load client only counts its own measured window.
//
// Env: TICK_MS (default 10), MODE (per server; see each file).

// Date.now() is CLOCK_REALTIME at millisecond resolution. Anchor the monotonic hrtime to
// a millisecond edge of Date.now() once, at start, to get microsecond resolution on the
// same clock (drift between the two clocks over a bench run is negligible).
function realtimeMicros() {
  const first = Date.now();
  let edge;
  do edge = Date.now(); while (edge === first);
  const offset = BigInt(edge) * 1000n - process.hrtime.bigint() / 1000n;
  return () => Number(process.hrtime.bigint() / 1000n + offset);
}

const TICK_MS = Number(process.env.TICK_MS || 10);
if (!(TICK_MS >= 1)) throw new RangeError(`TICK_MS must be >= 1, got ${process.env.TICK_MS}`);

/** Calls send(json) every TICK_MS ms with a fresh payload. */
function startTicks(send) {
  const now = realtimeMicros();
  let seq = 0;
  return setInterval(() => {
    seq += 1;
    send(JSON.stringify({ seq, t: now() }));
  }, TICK_MS);
}

/** Prints "ready <port>" and makes SIGTERM exit (after `cleanup`, if given). */
function ready(port, cleanup) {
  console.log(`ready ${port}`);
  process.on('SIGTERM', () => {
    const exit = () => process.exit(0);
    setTimeout(exit, 2000).unref();
    Promise.resolve(cleanup && cleanup()).then(exit, exit);
  });
}

module.exports = { TICK_MS, startTicks, ready, realtimeMicros };
