// Loaded into a benchmarked server with `node --import`: answers, over the IPC channel the
// benchmark opens, what only the process itself can see: event-loop delay and CPU time since
// the last reset, and how its memory divides. Not part of movticket.
import fs from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import process from 'node:process';

const RESOLUTION_MS = 1;
const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
delay.enable();
let cpuAtReset = process.cpuUsage();

// CPU time of the main thread alone (the event loop), from Linux's per-thread counters (clock
// ticks of 10 ms); undefined elsewhere. process.cpuUsage() counts every thread of the process.
const TICK_US = 10_000;
const mainThreadUs = () => {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return undefined;
  }
};
let mainAtReset = mainThreadUs();

// Garbage-collection pauses since the last reset: the longest, and their sum. A pause holds the
// event loop, so the longest one bounds the loop delay from below.
let gcMaxMs = 0;
let gcTotalMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMaxMs = Math.max(gcMaxMs, entry.duration);
    gcTotalMs += entry.duration;
  }
}).observe({ entryTypes: ['gc'] });

// Each sample spans one timer interval plus the delay: report the delay alone.
const delayMs = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);

if (process.send) {
  process.on('message', (message) => {
    if (message?.probe === 'reset') {
      delay.reset();
      cpuAtReset = process.cpuUsage();
      mainAtReset = mainThreadUs();
      gcMaxMs = 0;
      gcTotalMs = 0;
      process.send({ probe: 'reset' });
    } else if (message?.probe === 'read') {
      const cpu = process.cpuUsage(cpuAtReset);
      const main = mainThreadUs();
      const mem = process.memoryUsage();
      process.send({
        probe: 'read',
        loopDelayP99Ms: delayMs(delay.percentile(99)),
        loopDelayMaxMs: delayMs(delay.max),
        cpuUs: cpu.user + cpu.system,
        mainThreadUs: main !== undefined && mainAtReset !== undefined ? main - mainAtReset : undefined,
        gcMaxMs,
        gcTotalMs,
        heapTotalMb: mem.heapTotal / 1048576,
        heapUsedMb: mem.heapUsed / 1048576,
        externalMb: mem.external / 1048576,
      });
    }
  });
  // The channel must not keep a server alive that was asked to stop.
  process.channel?.unref();
}
