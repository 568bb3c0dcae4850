import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MovTicketClient } from '../src/client/index.js';
import { loadConfig } from '../src/config.js';
import { serve } from '../src/server.js';

const HEADERS_MS = 1000;
const RECEIVE_MS = 2000;
const DEMO_KEY = 'e10adc3949ba59abbe56e057f20f883e';

interface Outcome {
  /** Milliseconds from connecting until the server closed the connection. */
  closedAfter: number;
  /** Everything the server wrote. */
  reply: string;
}

/** Opens a connection, writes `first`, then one byte of `drip` every `everyMs` until closed. */
function slowClient(port: number, first: string, drip: string, everyMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      if (first) socket.write(first);
      timer = setInterval(() => {
        if (!socket.writable) return;
        socket.write(drip[i % drip.length]!);
        i++;
      }, everyMs);
    });
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', () => {}); // a reset after the answer is how some closes look
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ closedAfter: Date.now() - started, reply });
    });
    // The test's own bound: a server that never closes fails the assertion below, not by a hang.
    setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`connection still open after 10 s; server wrote: ${reply.slice(0, 200)}`));
    }, 10_000).unref();
  });
}

const expectTimeoutEnvelope = (reply: string) => {
  expect(reply).toMatch(/^HTTP\/1\.1 504 /);
  expect(reply).toContain('<code>504</code>');
  expect(reply).toContain('<type>timeout</type>');
  expect(reply).toMatch(/Connection: close/i);
};

/** Cut off at the limit, within a checking interval (1 s) plus slack for a busy machine. */
const expectCutOffAt = (out: Outcome, limitMs: number) => {
  expectTimeoutEnvelope(out.reply);
  expect(out.closedAfter).toBeGreaterThanOrEqual(limitMs - 100);
  expect(out.closedAfter).toBeLessThan(limitMs + 2500);
};

describe('slow clients', () => {
  let dir: string;
  let server: Awaited<ReturnType<typeof serve>>;
  let client: MovTicketClient;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-slow-'));
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    server = await serve(
      loadConfig({
        MOVTICKET_DATA_DIR: dir,
        PORT: '0',
        LOG_LEVEL: 'silent',
        MOVTICKET_DEMO: 'true',
        MOVTICKET_DEMO_KEY: DEMO_KEY,
        MOVTICKET_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
        MOVTICKET_RECEIVE_TIMEOUT_MS: String(RECEIVE_MS),
      }),
    );
    vi.restoreAllMocks();
    client = new MovTicketClient({
      baseUrl: `http://127.0.0.1:${server.port}`,
      partnerId: 'CS000001',
      secId: 'test',
      busId: '1002758',
      md5key: DEMO_KEY,
      retries: 0,
    });
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('cuts off a client that sends its headers a byte at a time, with the timeout envelope', async () => {
    const out = await slowClient(
      server.port,
      'POST /movTicket/cities HTTP/1.1\r\n',
      'X-Slow: aaaaaaaa\r\n',
      100,
    );
    expectCutOffAt(out, HEADERS_MS);
  });

  it('cuts off a connection that opens and never sends anything', async () => {
    const out = await slowClient(server.port, '', '', 60_000);
    expect(out.closedAfter).toBeLessThan(HEADERS_MS + 2500);
  });

  it('cuts off a client that trickles its body, with the timeout envelope', async () => {
    const out = await slowClient(
      server.port,
      'POST /movTicket/cities HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n',
      'partner_id=CS000001&',
      100,
    );
    expectCutOffAt(out, RECEIVE_MS);
  });

  it('serves a normal channel promptly while 200 slow clients hold connections', async () => {
    const slow = Array.from({ length: 200 }, (_, i) =>
      slowClient(server.port, 'POST /movTicket/cities HTTP/1.1\r\n', `X-Slow-${i}: a\r\n`, 200),
    );
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    for (let i = 0; i < 5; i++) expect((await client.cities()).cities.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(2000);
    const outs = await Promise.all(slow);
    for (const out of outs) expectTimeoutEnvelope(out.reply);
  });

  it('answers an oversized or malformed request head with invalid_param in the envelope', async () => {
    const huge = await slowClient(
      server.port,
      `POST /movTicket/cities HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      '',
      60_000,
    );
    expect(huge.reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(huge.reply).toContain('<type>invalid_param</type>');
    const garbage = await slowClient(server.port, 'HELLO THERE\r\n\r\n', '', 60_000);
    expect(garbage.reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage.reply).toContain('<type>invalid_param</type>');
  });
});
