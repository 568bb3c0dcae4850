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
    // Only so that a server that never closes fails with a message rather than a test timeout.
    setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`connection still open after 25 s; server wrote: ${reply.slice(0, 200)}`));
    }, 25_000).unref();
  });
}

const expectTimeoutEnvelope = (reply: string) => {
  expect(reply).toMatch(/^HTTP\/1\.1 504 /);
  expect(reply).toContain('<code>504</code>');
  expect(reply).toContain('<type>timeout</type>');
  expect(reply).toMatch(/Connection: close/i);
};

/**
 * Cut off by the server, with the envelope, and not before the limit. How soon after it is the
 * machine's business (the server checks every second), so the test does not bound it.
 */
const expectCutOffAt = (out: Outcome, limitMs: number) => {
  expectTimeoutEnvelope(out.reply);
  expect(out.closedAfter).toBeGreaterThanOrEqual(limitMs - 100);
};

/** A connection that sends a request head a byte at a time and never ends it, once it is open. */
function heldConnection(port: number, i: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const drip = `X-Slow-${i}: a\r\n`;
    let n = 0;
    let timer: NodeJS.Timeout | undefined;
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write('POST /movTicket/cities HTTP/1.1\r\n');
      timer = setInterval(() => socket.writable && socket.write(drip[n++ % drip.length]!), 200);
      resolve(socket);
    });
    socket.on('error', reject);
    socket.on('close', () => clearInterval(timer));
  });
}

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
    // Resolves only when the server closes it.
    const out = await slowClient(server.port, '', '', 60_000);
    expect(out.closedAfter).toBeGreaterThanOrEqual(HEADERS_MS - 100);
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

  it('serves a normal channel while 200 slow clients hold connections, then cuts them all off', async () => {
    // A server whose limits no test outlives: the slow connections stay open throughout, so a
    // channel answered now was not merely served after they were cut off.
    const patientDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-slow-'));
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const patient = await serve(
      loadConfig({
        MOVTICKET_DATA_DIR: patientDir,
        PORT: '0',
        LOG_LEVEL: 'silent',
        MOVTICKET_DEMO: 'true',
        MOVTICKET_DEMO_KEY: DEMO_KEY,
        MOVTICKET_HEADERS_TIMEOUT_MS: '120000',
        MOVTICKET_RECEIVE_TIMEOUT_MS: '120000',
      }),
    );
    vi.restoreAllMocks();
    try {
      const held = await Promise.all(Array.from({ length: 200 }, (_, i) => heldConnection(patient.port, i)));
      let closed = 0;
      for (const socket of held) socket.on('close', () => closed++);
      const channel = new MovTicketClient({
        baseUrl: `http://127.0.0.1:${patient.port}`,
        partnerId: 'CS000001',
        secId: 'test',
        busId: '1002758',
        md5key: DEMO_KEY,
        retries: 0,
      });
      for (let i = 0; i < 5; i++) expect((await channel.cities()).cities.length).toBeGreaterThan(0);
      expect(closed).toBe(0);
      for (const socket of held) socket.destroy();
    } finally {
      await patient.close();
      fs.rmSync(patientDir, { recursive: true, force: true });
    }

    // And with the usual limits, every one of 200 slow clients is answered with the envelope.
    const slow = Array.from({ length: 200 }, (_, i) =>
      slowClient(server.port, 'POST /movTicket/cities HTTP/1.1\r\n', `X-Slow-${i}: a\r\n`, 200),
    );
    const outs = await Promise.all(slow);
    for (const out of outs) expectTimeoutEnvelope(out.reply);
    expect((await client.cities()).cities.length).toBeGreaterThan(0);
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
