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

  it('reads the secret key file as an absolute path and refuses one that names no file', () => {
    expect(loadConfig({}).secretKeyFile).toBeUndefined();
    expect(loadConfig({ MOVTICKET_SECRET_KEY_FILE: '/etc/movticket/secret.key' }).secretKeyFile).toBe(
      '/etc/movticket/secret.key',
    );
    expect(loadConfig({ MOVTICKET_SECRET_KEY_FILE: 'keys/secret.key' }).secretKeyFile).toMatch(
      /^\/.*\/keys\/secret\.key$/,
    );
    for (const bad of ['  ', '/etc/movticket/', 'a\nb']) {
      expect(() => loadConfig({ MOVTICKET_SECRET_KEY_FILE: bad })).toThrow(ConfigError);
    }
  });

  it('reads the SMS worker settings and refuses a backoff cap below its start', () => {
    expect(loadConfig({})).toMatchObject({
      smsMaxAttempts: 10,
      smsLeaseMs: 15_000,
      smsConcurrency: 20,
      smsBackoffBaseMs: 2_000,
      smsBackoffMaxMs: 600_000,
    });
    const c = loadConfig({
      MOVTICKET_SMS_MAX_ATTEMPTS: '4',
      MOVTICKET_SMS_LEASE_MS: '9000',
      MOVTICKET_SMS_CONCURRENCY: '5',
      MOVTICKET_SMS_BACKOFF_MS: '500',
      MOVTICKET_SMS_BACKOFF_MAX_MS: '500',
    });
    expect(c).toMatchObject({
      smsMaxAttempts: 4,
      smsLeaseMs: 9_000,
      smsConcurrency: 5,
      smsBackoffBaseMs: 500,
      smsBackoffMaxMs: 500,
    });
    const bad: Record<string, string> = {
      MOVTICKET_SMS_LEASE_MS: '1000',
      MOVTICKET_SMS_CONCURRENCY: '0',
      MOVTICKET_SMS_BACKOFF_MS: 'soon',
      MOVTICKET_SMS_BACKOFF_MAX_MS: '-1',
    };
    for (const [name, value] of Object.entries(bad)) {
      expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value })).toThrow(name);
    }
    expect(() => loadConfig({ MOVTICKET_SMS_BACKOFF_MAX_MS: '1000' })).toThrow(
      'MOVTICKET_SMS_BACKOFF_MAX_MS=1000 is invalid: it must not be below MOVTICKET_SMS_BACKOFF_MS=2000',
    );
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
