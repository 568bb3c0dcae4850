import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: undefined,
      timeZone: 'Asia/Shanghai',
      sms: 'console',
      demo: false,
    });
    expect(c.timestampWindowSec).toBe(300);
    expect(c.payDeadlineMin).toBe(30);
  });

  it('refuses bad values with a message naming the variable', () => {
    const cases: Record<string, string> = {
      PORT: 'eighty',
      DATABASE_URL: 'mysql://x',
      MOVTICKET_TZ: 'Mars/Base',
      MOVTICKET_SMS: 'carrier-pigeon',
      MOVTICKET_DEMO: 'maybe',
      MOVTICKET_DEMO_KEY: 'short',
      MOVTICKET_TIMESTAMP_WINDOW: '0',
    };
    for (const [name, value] of Object.entries(cases)) {
      expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value })).toThrow(name);
    }
  });
  it('bounds how long a client may take to send its request', () => {
    expect(loadConfig({})).toMatchObject({ headersTimeoutMs: 10_000, receiveTimeoutMs: 30_000 });
    expect(() => loadConfig({ MOVTICKET_HEADERS_TIMEOUT_MS: '40000' })).toThrow(
      'must not exceed MOVTICKET_RECEIVE_TIMEOUT_MS',
    );
    expect(
      loadConfig({ MOVTICKET_HEADERS_TIMEOUT_MS: '40000', MOVTICKET_RECEIVE_TIMEOUT_MS: '60000' }),
    ).toMatchObject({ headersTimeoutMs: 40_000, receiveTimeoutMs: 60_000 });
  });
});
