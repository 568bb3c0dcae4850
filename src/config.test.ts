import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

  it('syncs every SQLite commit unless told otherwise, and refuses an unknown mode', () => {
    expect(loadConfig({}).sqliteSync).toBe('full');
    expect(loadConfig({ MOVTICKET_SQLITE_SYNC: 'normal' }).sqliteSync).toBe('normal');
    expect(() => loadConfig({ MOVTICKET_SQLITE_SYNC: 'off' })).toThrow(ConfigError);
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

  it('reads where /metrics is served: a port of its own on loopback, a bearer token from a file, or nowhere', () => {
    expect(loadConfig({})).toMatchObject({
      metricsPort: undefined,
      metricsHost: '127.0.0.1',
      metricsToken: undefined,
    });
    expect(loadConfig({ MOVTICKET_METRICS_PORT: '9464', MOVTICKET_METRICS_HOST: '10.0.0.5' })).toMatchObject({
      metricsPort: 9464,
      metricsHost: '10.0.0.5',
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-config-'));
    try {
      const file = path.join(dir, 'token');
      fs.writeFileSync(file, 'a-long-enough-metrics-token-42\n');
      expect(loadConfig({ MOVTICKET_METRICS_TOKEN_FILE: file }).metricsToken).toBe(
        'a-long-enough-metrics-token-42',
      );
      // The token's text never appears in the refusal.
      fs.writeFileSync(file, 'short-secret');
      expect(() => loadConfig({ MOVTICKET_METRICS_TOKEN_FILE: file })).toThrow(ConfigError);
      expect(() => loadConfig({ MOVTICKET_METRICS_TOKEN_FILE: file })).not.toThrow('short-secret');
      expect(() => loadConfig({ MOVTICKET_METRICS_TOKEN_FILE: path.join(dir, 'missing') })).toThrow(
        'MOVTICKET_METRICS_TOKEN_FILE',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => loadConfig({ MOVTICKET_METRICS_PORT: 'x' })).toThrow('MOVTICKET_METRICS_PORT');
  });

  it('trusts X-Forwarded-For only from the proxies named in MOVTICKET_TRUST_PROXY', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ MOVTICKET_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ MOVTICKET_TRUST_PROXY: '127.0.0.1' }).trustProxy).toEqual(['127.0.0.1']);
    expect(loadConfig({ MOVTICKET_TRUST_PROXY: ' 10.0.0.0/8, ::1 ,fd00::/8,loopback' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    // `true` used to trust every hop, so a client could name its own address: refused, not guessed.
    expect(loadConfig({ MOVTICKET_TRUST_PROXY: 'off' }).trustProxy).toBe(false);
    for (const value of ['true', '1', 'yes', '2', 'proxy.internal', '10.0.0.0/33', '300.1.1.1', '::1/129']) {
      expect(() => loadConfig({ MOVTICKET_TRUST_PROXY: value })).toThrow(ConfigError);
      expect(() => loadConfig({ MOVTICKET_TRUST_PROXY: value })).toThrow(/MOVTICKET_TRUST_PROXY=.*proxy/);
    }
    expect(() => loadConfig({ MOVTICKET_TRUST_PROXY: 'true' })).toThrow(/addresses or CIDR ranges/);
  });

  it('reads the hosts and ranges callbacks may reach although they are not public', () => {
    expect(loadConfig({}).callbackAllow).toEqual([]);
    expect(
      loadConfig({ MOVTICKET_CALLBACK_ALLOW: ' notify.lan , 127.0.0.1,10.20.0.0/16,fd00::/8,' })
        .callbackAllow,
    ).toEqual(['notify.lan', '127.0.0.1', '10.20.0.0/16', 'fd00::/8']);
    for (const bad of [
      '10.0.0.0/33',
      'fd00::/129',
      'not a host',
      'http://x.lan',
      '10.0.0.0/8/1',
      'a_b.lan',
    ]) {
      expect(() => loadConfig({ MOVTICKET_CALLBACK_ALLOW: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ MOVTICKET_CALLBACK_ALLOW: bad }), bad).toThrow(
        /^MOVTICKET_CALLBACK_ALLOW is invalid/,
      );
    }
  });
});
