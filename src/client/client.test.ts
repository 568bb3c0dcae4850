import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MovTicketClient, MovTicketError } from './index.js';
import type { MovTicketClientOptions } from './index.js';

const KEY = 'e10adc3949ba59abbe56e057f20f883e';
const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

/** 2012-12-25 02:02:02 in Asia/Shanghai. */
const VECTOR_TIME = new Date(Date.UTC(2012, 11, 24, 18, 2, 2));

/** Independent re-implementation of contract section 3, so the SDK is not checked against itself. */
function expectedHashcode(mode: 'basic' | 'full', form: URLSearchParams, key: string): string {
  if (mode === 'basic') {
    return md5(['partner_id', 'bus_id', 'req_id', 'timestamp'].map((n) => form.get(n)).join('') + key);
  }
  const values = [...form.entries()].filter(([n]) => n !== 'hashcode' && n !== 'format').map(([, v]) => v);
  return md5(values.join('') + key);
}

interface Captured {
  url: string;
  method: string;
  headers: Record<string, string>;
  form: URLSearchParams;
}

function options(overrides: Partial<MovTicketClientOptions> = {}): MovTicketClientOptions {
  return {
    baseUrl: 'http://platform.test',
    partnerId: 'CS000001',
    secId: 'test',
    busId: '1002758',
    md5key: KEY,
    retryDelayMs: 5,
    ...overrides,
  };
}

/** A fetch stand-in that records requests and answers from a list. */
function fakeFetch(
  answers: Array<{ status?: number; body: string; type?: string; headers?: Record<string, string> }>,
) {
  const requests: Captured[] = [];
  const impl: typeof fetch = async (input, init) => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    requests.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers,
      form: new URLSearchParams(String(init?.body)),
    });
    const answer = answers[Math.min(requests.length - 1, answers.length - 1)];
    if (!answer) throw new Error('no answer configured');
    return new Response(answer.body, {
      status: answer.status ?? 200,
      headers: { 'content-type': answer.type ?? 'application/json; charset=utf-8', ...answer.headers },
    });
  };
  return { impl, requests };
}

const json = (value: unknown) => ({ body: JSON.stringify(value) });
const CARD = {
  card_no: '6281234567890123',
  cinema_id: '10001',
  kind_id: '',
  count: '2',
  price: '35.00',
  total_price: '70.00',
  status: 'inactive',
  created_at: '20240101120000',
  pay_deadline: '20240101123000',
};

describe('request encoding and signing', () => {
  it('reproduces the full-mode contract vector on the wire for payByCard', async () => {
    const { impl, requests } = fakeFetch([json({ code: 200, data: { card: CARD } })]);
    const client = new MovTicketClient(
      options({ signMode: 'full', fetch: impl, now: () => VECTOR_TIME, reqId: () => '2012010100000002' }),
    );
    await client.payByCard({ cardNo: '6281234567890123', mobile: '13812345678' });
    const [req] = requests;
    expect(req?.url).toBe('http://platform.test/movTicket/payByCard');
    expect(req?.method).toBe('POST');
    expect(req?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect([...(req?.form.keys() ?? [])]).toEqual([
      'partner_id',
      'sec_id',
      'bus_id',
      'req_id',
      'ver',
      'timestamp',
      'card_no',
      'mobile',
      'hashcode',
      'format',
    ]);
    expect(req?.form.get('timestamp')).toBe('20121225020202');
    expect(req?.form.get('hashcode')).toBe('7a27021fdd92e04520656f58003e4748');
    expect(req?.form.get('format')).toBe('json');
  });

  it('reproduces the basic-mode contract vector on the wire', async () => {
    const { impl, requests } = fakeFetch([json({ code: 200, data: { cities: [] } })]);
    const client = new MovTicketClient(
      options({ fetch: impl, now: () => VECTOR_TIME, reqId: () => '2012010100000001' }),
    );
    await client.cities();
    expect(requests[0]?.form.get('hashcode')).toBe('c2ea37696f3f4b09f911a8c6dab43264');
  });

  it('signs optional params in table order in full mode only when present', async () => {
    const { impl, requests } = fakeFetch([json({ code: 200, data: { card: CARD } })]);
    const client = new MovTicketClient(options({ signMode: 'full', fetch: impl }));
    await client.buyByCinema({ cinemaId: '10001', count: 2 });
    await client.buyByCinema({ orderNo: 'ORD-1', count: 2, cinemaId: '10001' });
    await client.payByCard({ cardNo: '6281234567890123', mobile: '13812345678', totalPrice: '70.00' });

    const keys = requests.map((r) => [...r.form.keys()].slice(6));
    expect(keys[0]).toEqual(['cinema_id', 'count', 'hashcode', 'format']);
    expect(keys[1]).toEqual(['cinema_id', 'count', 'order_no', 'hashcode', 'format']);
    expect(keys[2]).toEqual(['card_no', 'mobile', 'total_price', 'hashcode', 'format']);
    for (const r of requests) expect(r.form.get('hashcode')).toBe(expectedHashcode('full', r.form, KEY));
    expect(requests[1]?.form.get('order_no')).toBe('ORD-1');
  });

  it('sends cinemasByKind with and without the optional city filter', async () => {
    const { impl, requests } = fakeFetch([json({ code: 200, data: { cinemas: [] } })]);
    const client = new MovTicketClient(options({ signMode: 'full', fetch: impl }));
    await client.cinemasByKind({ kindId: 'K1' });
    await client.cinemasByKind({ kindId: 'K1', cityId: '001' });
    expect([...(requests[0]?.form.keys() ?? [])].slice(6, -2)).toEqual(['kind_id']);
    expect([...(requests[1]?.form.keys() ?? [])].slice(6, -2)).toEqual(['kind_id', 'city_id']);
    expect(requests[0]?.form.get('hashcode')).not.toBe(requests[1]?.form.get('hashcode'));
    for (const r of requests) expect(r.form.get('hashcode')).toBe(expectedHashcode('full', r.form, KEY));
  });

  it('asks for XML with the format param and Accept header', async () => {
    const { impl, requests } = fakeFetch([
      { body: '<response><code>200</code><data><kinds/></data></response>', type: 'application/xml' },
    ]);
    const client = new MovTicketClient(options({ format: 'xml', fetch: impl }));
    expect(await client.kinds()).toEqual({ kinds: [] });
    expect(requests[0]?.form.get('format')).toBe('xml');
    expect(requests[0]?.headers.accept).toBe('application/xml');
  });
});

describe('responses', () => {
  it('returns typed data with lists normalised from XML', async () => {
    const { impl } = fakeFetch([
      {
        type: 'application/xml; charset=utf-8',
        body:
          '<?xml version="1.0" encoding="UTF-8"?><response><code>200</code><data><regions><item>' +
          '<code_id>011</code_id><parent_id>001</parent_id><code_name>朝阳区</code_name><remark>cy</remark>' +
          '</item></regions></data></response>',
      },
    ]);
    const client = new MovTicketClient(options({ format: 'xml', fetch: impl }));
    const { regions } = await client.regionsByCity({ cityId: '001' });
    expect(regions).toEqual([{ code_id: '011', parent_id: '001', code_name: '朝阳区', remark: 'cy' }]);
  });

  it('returns an empty JSON list as an empty array', async () => {
    const { impl } = fakeFetch([json({ code: 200, data: { cinemas: [] } })]);
    const client = new MovTicketClient(options({ fetch: impl }));
    expect((await client.cinemasByRegion({ regionId: '011' })).cinemas).toEqual([]);
  });

  it.each(['json', 'xml'] as const)(
    'throws MovTicketError with code, type and req_id for a %s error envelope',
    async (format) => {
      const body =
        format === 'json'
          ? JSON.stringify({ code: 406, error: { message: 'card is active', type: 'card_state' } })
          : '<response><code>406</code><error><message>card is active</message><type>card_state</type></error></response>';
      const { impl, requests } = fakeFetch([{ status: 406, body, type: `application/${format}` }]);
      const client = new MovTicketClient(options({ format, fetch: impl, retries: 2 }));
      const err = await client.ban({ cardNo: '6281234567890123' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MovTicketError);
      expect(err).toMatchObject({
        code: 406,
        type: 'card_state',
        message: 'card is active',
        method: 'ban',
        reqId: requests[0]?.form.get('req_id'),
        retryAfter: undefined,
      });
      expect(requests).toHaveLength(1);
    },
  );

  it('reports Retry-After on a 429 and does not retry it', async () => {
    const { impl, requests } = fakeFetch([
      {
        status: 429,
        headers: { 'retry-after': '7' },
        ...json({ code: 429, error: { message: 'slow down', type: 'rate_limited' } }),
      },
    ]);
    const client = new MovTicketClient(options({ fetch: impl }));
    await expect(client.resendSms({ cardNo: '6281234567890123' })).rejects.toMatchObject({
      code: 429,
      type: 'rate_limited',
      retryAfter: 7,
    });
    expect(requests).toHaveLength(1);
  });

  it('finds a card by the order_no it was bought with, signing order_no in full mode', async () => {
    const { impl, requests } = fakeFetch([
      json({ code: 200, data: { card: { ...CARD, order_no: 'ORD-1' } } }),
    ]);
    const client = new MovTicketClient(options({ signMode: 'full', fetch: impl }));
    const { card } = await client.status({ orderNo: 'ORD-1' });
    expect(card.card_no).toBe(CARD.card_no);
    const form = requests[0]!.form;
    expect([...form.keys()].slice(6)).toEqual(['order_no', 'hashcode', 'format']);
    expect(form.get('hashcode')).toBe(expectedHashcode('full', form, KEY));
    await client.status({ cardNo: CARD.card_no });
    expect([...requests[1]!.form.keys()].slice(6)).toEqual(['card_no', 'hashcode', 'format']);
  });

  it('keeps the other keys of an error, such as the card_no a refused order names, in both formats', async () => {
    const { impl } = fakeFetch([
      {
        status: 409,
        ...json({
          code: 409,
          error: { message: 'order ORD-1 exists', type: 'order_exists', card_no: CARD.card_no },
        }),
      },
      {
        status: 409,
        type: 'application/xml; charset=utf-8',
        body: `<?xml version="1.0" encoding="UTF-8"?><response><code>409</code><error><message>order ORD-1 exists</message><type>order_exists</type><card_no>${CARD.card_no}</card_no></error></response>`,
      },
    ]);
    const client = new MovTicketClient(options({ fetch: impl }));
    for (let i = 0; i < 2; i++) {
      const err = await client
        .buyByKind({ kindId: 'K3D', count: 1, orderNo: 'ORD-1' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MovTicketError);
      expect(err).toMatchObject({ code: 409, type: 'order_exists', details: { card_no: CARD.card_no } });
    }
  });

  it('reports a non-envelope answer as invalid_response with the HTTP status', async () => {
    const { impl } = fakeFetch([{ status: 502, body: '<html>Bad gateway</html>', type: 'text/html' }]);
    const client = new MovTicketClient(options({ fetch: impl }));
    await expect(client.cities()).rejects.toMatchObject({ code: 502, type: 'invalid_response' });
  });

  it('reports a success answer missing its documented list as invalid_response', async () => {
    const { impl } = fakeFetch([json({ code: 200, data: {} })]);
    const client = new MovTicketClient(options({ fetch: impl }));
    await expect(client.kinds()).rejects.toMatchObject({ code: 200, type: 'invalid_response' });
  });

  it('lets call() inspect a raw error answer without throwing', async () => {
    const { impl } = fakeFetch([
      {
        status: 404,
        ...json({ code: 404, error: { message: 'no such method nope', type: 'no_such_method' } }),
      },
    ]);
    const client = new MovTicketClient(options({ fetch: impl }));
    const raw = await client.call('nope', {}, { reqId: 'ABC123' });
    expect(raw).toMatchObject({
      status: 404,
      reqId: 'ABC123',
      attempts: 1,
      envelope: { code: 404, error: { type: 'no_such_method' } },
    });
    expect(raw.contentType).toContain('application/json');
  });
});

// ---- retries against a real local HTTP server ----

type Behaviour = 'hang' | { status: number; body: unknown };

interface TestServer {
  url: string;
  requests: Captured[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Starts a server on 127.0.0.1:0 that answers the n-th request with behaviours[n] (the last one repeats). */
async function startServer(behaviours: Behaviour[]): Promise<TestServer> {
  const requests: Captured[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      requests.push({
        url: req.url ?? '',
        method: req.method ?? '',
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        form: new URLSearchParams(raw),
      });
      const b = behaviours[Math.min(requests.length - 1, behaviours.length - 1)];
      if (b === undefined || b === 'hang') return; // never answer
      res.writeHead(b.status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(b.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: TestServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

/** A clock that advances one second per reading, so every attempt gets its own timestamp. */
function tickingClock(): () => Date {
  let t = Date.UTC(2024, 5, 1, 4, 0, 0);
  return () => new Date((t += 1000));
}

const unavailable = { status: 503, body: { code: 503, error: { message: 'busy', type: 'unavailable' } } };

describe('retries', () => {
  it('retries a timed-out purchase with the same req_id and a fresh valid signature', async () => {
    const server = await startServer(['hang', { status: 200, body: { code: 200, data: { card: CARD } } }]);
    const client = new MovTicketClient(
      options({ baseUrl: server.url, timeoutMs: 300, retries: 2, now: tickingClock() }),
    );
    const { card } = await client.buyByCinema({ cinemaId: '10001', count: 2, orderNo: 'A1' });

    expect(card.card_no).toBe('6281234567890123');
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests;
    expect(first?.url).toBe('/movTicket/buyByCinema');
    expect(second?.form.get('req_id')).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(second?.form.get('req_id')).toBe(first?.form.get('req_id'));
    expect(second?.form.get('timestamp')).not.toBe(first?.form.get('timestamp'));
    for (const name of ['cinema_id', 'count', 'order_no']) {
      expect(second?.form.get(name)).toBe(first?.form.get(name));
    }
    for (const r of server.requests) {
      expect(r.form.get('hashcode')).toBe(expectedHashcode('basic', r.form, KEY));
    }
  });

  it('retries a 503 payment with the same req_id, signed in full mode', async () => {
    const paid = {
      ...CARD,
      status: 'active',
      password: '12345678',
      paid_at: '',
      valid_until: '',
      sms_status: 'queued',
    };
    const server = await startServer([
      unavailable,
      { status: 200, body: { code: 200, data: { card: paid } } },
    ]);
    const client = new MovTicketClient(
      options({ baseUrl: server.url, signMode: 'full', now: tickingClock(), reqId: () => 'PAY0001' }),
    );
    const { card } = await client.payByCard({
      cardNo: '6281234567890123',
      mobile: '13812345678',
      totalPrice: '70.00',
    });

    expect(card.password).toBe('12345678');
    expect(server.requests.map((r) => r.form.get('req_id'))).toEqual(['PAY0001', 'PAY0001']);
    for (const r of server.requests) {
      expect(r.form.get('hashcode')).toBe(expectedHashcode('full', r.form, KEY));
    }
  });

  it('gives up after `retries` extra attempts and reports the last 503', async () => {
    const server = await startServer([unavailable]);
    const client = new MovTicketClient(options({ baseUrl: server.url, retries: 2 }));
    await expect(client.buyByKind({ kindId: 'K1', count: 1 })).rejects.toMatchObject({
      code: 503,
      type: 'unavailable',
    });
    expect(server.requests).toHaveLength(3);
    expect(new Set(server.requests.map((r) => r.form.get('req_id'))).size).toBe(1);
  });

  it('reports client_timeout when every attempt hangs', async () => {
    const server = await startServer(['hang']);
    const client = new MovTicketClient(options({ baseUrl: server.url, timeoutMs: 100, retries: 1 }));
    const err = await client.ban({ cardNo: '6281234567890123' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MovTicketError);
    expect(err).toMatchObject({
      code: 0,
      type: 'client_timeout',
      reqId: server.requests[0]?.form.get('req_id'),
    });
    expect(server.requests).toHaveLength(2);
  });

  it('never retries a 4xx', async () => {
    const server = await startServer([
      {
        status: 401,
        body: { code: 401, error: { message: 'hashcode mismatch', type: 'invalid_signature' } },
      },
    ]);
    const client = new MovTicketClient(options({ baseUrl: server.url, retries: 3 }));
    await expect(
      client.payByCard({ cardNo: '6281234567890123', mobile: '13812345678' }),
    ).rejects.toMatchObject({
      code: 401,
      type: 'invalid_signature',
    });
    expect(server.requests).toHaveLength(1);
  });

  it('reports network_error when nothing listens', async () => {
    const server = await startServer([unavailable]);
    await server.close();
    servers.length = 0;
    const client = new MovTicketClient(options({ baseUrl: server.url, retries: 1 }));
    await expect(client.cities()).rejects.toMatchObject({ code: 0, type: 'network_error' });
  });
});
