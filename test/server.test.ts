import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { serve } from '../src/server.js';
import { MovTicketClient } from '../src/client/index.js';

describe('npm start (serve --demo)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  const start = async (dataDir: string, env: Record<string, string> = {}) => {
    // The banner goes to stdout on a terminal, else to stderr: take both.
    let printed = '';
    for (const stream of [process.stdout, process.stderr]) {
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        printed += String(chunk);
        return true;
      });
    }
    const config = loadConfig({
      MOVTICKET_DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'silent',
      MOVTICKET_DEMO: 'true',
      ...env,
    });
    const server = await serve(config);
    vi.restoreAllMocks();
    return { server, printed, base: `http://127.0.0.1:${server.port}` };
  };

  it('prints the demo credentials and a working curl request, and keeps data and key across restarts', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-serve-'));
    dirs.push(dir);
    const first = await start(dir);
    try {
      const key = /md5key\s+([0-9a-f]{32})/.exec(first.printed)?.[1];
      expect(key).toBeDefined();
      expect(first.printed).toContain('partner_id  CS000001');
      expect(first.printed).toContain('bus_id      1002758');
      // The printed curl request works as printed.
      const curl = /curl -s (\S+) (.*)\\\n\s+(.*)/.exec(first.printed)!;
      const form = new URLSearchParams();
      for (const m of `${curl[2]} ${curl[3]}`.matchAll(/-d (\w+)=(\S+)/g)) form.append(m[1]!, m[2]!);
      const res = await fetch(curl[1]!, { method: 'POST', body: form });
      expect(res.status).toBe(200);
      expect(
        ((await res.json()) as { data: { cities: unknown[] } }).data.cities.length,
      ).toBeGreaterThanOrEqual(2);
      expect((await fetch(`${first.base}/healthz`)).status).toBe(200);
      // The console's first admin, with the password printed once.
      const adminPassword = /user admin, password (\S+)/.exec(first.printed)?.[1];
      expect(adminPassword).toBeDefined();
      const login = await fetch(`${first.base}/admin/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: adminPassword }),
      });
      expect(login.status).toBe(200);

      const client = new MovTicketClient({
        baseUrl: first.base,
        partnerId: 'CS000001',
        secId: 'test',
        busId: '1002758',
        md5key: key!,
      });
      const { card } = await client.buyByCinema({ cinemaId: '1001', count: 1 });
      await first.server.close();

      const second = await start(dir);
      try {
        expect(second.printed).toContain(`md5key      ${key}`);
        expect(second.printed).not.toMatch(/password \S+ {3}\(shown this once/);
        const again = new MovTicketClient({
          baseUrl: second.base,
          partnerId: 'CS000001',
          secId: 'test',
          busId: '1002758',
          md5key: key!,
        });
        expect((await again.status({ cardNo: card.card_no })).card.status).toBe('inactive');
        expect((await again.cities()).cities).toHaveLength(2);
      } finally {
        await second.server.close();
      }
    } catch (err) {
      await first.server.close().catch(() => {});
      throw err;
    }
  });

  it('uses MOVTICKET_DEMO_KEY when set', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-serve-'));
    dirs.push(dir);
    const { server, printed, base } = await start(dir, {
      MOVTICKET_DEMO_KEY: 'e10adc3949ba59abbe56e057f20f883e',
    });
    try {
      expect(printed).toContain('md5key      e10adc3949ba59abbe56e057f20f883e');
      const client = new MovTicketClient({
        baseUrl: base,
        partnerId: 'CS000001',
        secId: 'test',
        busId: '1002758',
        md5key: 'e10adc3949ba59abbe56e057f20f883e',
        format: 'xml',
      });
      expect((await client.kinds()).kinds.map((k) => k.kind_id)).toEqual(['K2D', 'K3D']);
    } finally {
      await server.close();
    }
  });

  it('serves /metrics on its own loopback port when MOVTICKET_METRICS_PORT is set, and not on the main port', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-serve-'));
    dirs.push(dir);
    const { server, base } = await start(dir, { MOVTICKET_METRICS_PORT: '0' });
    try {
      expect(server.metricsPort).toBeGreaterThan(0);
      expect(server.metricsPort).not.toBe(server.port);
      const own = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
      expect(own.status).toBe(200);
      expect(await own.text()).toContain('movticket_cards{status="active"} 0');
      const main = await fetch(`${base}/metrics`);
      expect(main.status).toBe(404);
      expect(await main.text()).not.toContain('movticket_cards');
    } finally {
      await server.close();
    }
    // Closed with the server.
    await expect(fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).rejects.toThrow();
  });
});
