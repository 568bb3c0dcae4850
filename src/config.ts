import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { parseCallbackAllow } from './domain/callback-policy.js';
import { assertTimeZone } from './domain/time.js';

export interface Config {
  port: number;
  host: string;
  /** `postgres://…` for PostgreSQL; undefined for the embedded SQLite file in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /**
   * SQLite's `synchronous`: `full` fsyncs every commit (a shared commit, see WriteBatcher), so
   * an answered request survives a power cut; `normal` fsyncs only at checkpoints, so a power
   * cut may lose the last answered requests (a process crash loses nothing either way).
   */
  sqliteSync: 'full' | 'normal';
  /**
   * File holding the keys that seal card passwords at rest (`MOVTICKET_SECRET_KEY_FILE`), owner-only.
   * Unset: the demo makes and uses `secret.key` in `dataDir`; otherwise start-up refuses.
   */
  secretKeyFile: string | undefined;
  demo: boolean;
  demoKey: string | undefined;
  /**
   * The sandbox interfaces (`movTicket/sandbox…`): a channel drives its own cards (redeem, expire,
   * undo) and sends itself a test callback. Never for a production server: default the demo's value.
   */
  sandbox: boolean;
  timeZone: string;
  /** `console`, `file:PATH`, an http(s) gateway URL, or providers in order: `aliyun`, `tencent`, `aliyun,tencent`. */
  sms: string;
  /** Aliyun SMS settings, when `sms` names `aliyun`. */
  smsAliyun: AliyunSmsSettings | undefined;
  /** Tencent Cloud SMS settings, when `sms` names `tencent`. */
  smsTencent: TencentSmsSettings | undefined;
  /** How often to ask the providers for delivery reports, and for how long after sending. */
  smsReceiptPollMs: number;
  smsReceiptHours: number;
  smsTemplate: string;
  smsTimeoutMs: number;
  smsMaxAttempts: number;
  /** Lease on a message being sent, renewed while the send runs; a killed worker's wait this long. */
  smsLeaseMs: number;
  /** Most sends in flight towards the gateway at once. */
  smsConcurrency: number;
  /** Backoff before retry n: base × 2^(n-1), capped at max. */
  smsBackoffBaseMs: number;
  smsBackoffMaxMs: number;
  timestampWindowSec: number;
  requestTimeoutMs: number;
  /** A connection whose request headers are not all in by then is answered `504 timeout`. */
  headersTimeoutMs: number;
  /** The same for the whole request, body included. */
  receiveTimeoutMs: number;
  payDeadlineMin: number;
  cinemaValidDays: number;
  reqIdRetentionDays: number;
  logLevel: string;
  /** A listener of its own serving only /metrics; undefined: none (see `metricsToken`). */
  metricsPort: number | undefined;
  metricsHost: string;
  /**
   * Bearer token /metrics asks for (read from MOVTICKET_METRICS_TOKEN_FILE). Without a port of
   * its own, /metrics is served on the main port only when this is set.
   */
  metricsToken: string | undefined;
  /**
   * The reverse proxies whose `X-Forwarded-*` headers are believed: addresses, CIDR ranges or
   * `loopback` / `linklocal` / `uniquelocal`; false (the default) believes none.
   */
  trustProxy: false | string[];
  /**
   * Host names, addresses and CIDR ranges partner callbacks may reach although they are not
   * public (this host, private networks); everything else non-public is refused.
   */
  callbackAllow: string[];
}

export interface AliyunSmsSettings {
  accessKeyId: string;
  /** Read from MOVTICKET_SMS_ALIYUN_KEY_SECRET_FILE; never logged. */
  accessKeySecret: string;
  endpoint: string;
  regionId: string;
  signName: string;
  templateCode: string;
  /** Template variable name → placeholder, e.g. `[['code', 'card_no'], …]`. */
  templateParams: [string, string][];
}

export interface TencentSmsSettings {
  secretId: string;
  /** Read from MOVTICKET_SMS_TENCENT_SECRET_KEY_FILE; never logged. */
  secretKey: string;
  endpoint: string;
  region: string;
  sdkAppId: string;
  signName: string;
  templateId: string;
  /** The placeholders filling the template's {1}, {2}, … in order. */
  templateParams: string[];
}

const SMS_PLACEHOLDERS = ['target', 'count', 'card_no', 'password', 'valid_until'];
const SMS_PROVIDERS = /^(aliyun|tencent)(,(aliyun|tencent))?$/;

function requiredVar(env: Env, name: string, why: string): string {
  const v = env[name]?.trim();
  if (!v) throw new ConfigError(`${name} is required ${why}`);
  if (/[\0\r\n]/.test(v)) throw new ConfigError(`${name} is invalid: it holds a control character`);
  return v;
}

/** A provider endpoint: https, or http only to this host (a local fake or relay). */
function endpointVar(env: Env, name: string, fallback: string): string {
  const raw = env[name] || fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name}=${raw} is not a valid URL`);
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(
      `${name}=${raw} is invalid: expected https:// (http:// only to 127.0.0.1 or localhost)`,
    );
  }
  return url.href;
}

function placeholderVar(name: string, raw: string, placeholder: string): string {
  if (!SMS_PLACEHOLDERS.includes(placeholder)) {
    throw new ConfigError(
      `${name}=${raw} is invalid: "${placeholder}" is not one of ${SMS_PLACEHOLDERS.join(', ')}`,
    );
  }
  return placeholder;
}

function aliyunSettings(env: Env): AliyunSmsSettings {
  const why = 'with MOVTICKET_SMS=aliyun';
  const name = 'MOVTICKET_SMS_ALIYUN_TEMPLATE_PARAMS';
  const raw = env[name] || SMS_PLACEHOLDERS.map((p) => `${p}=${p}`).join(',');
  const templateParams = raw.split(',').map((pair): [string, string] => {
    const m = /^\s*([A-Za-z][A-Za-z0-9_]{0,31})=([a-z_]+)\s*$/.exec(pair);
    if (!m)
      throw new ConfigError(
        `${name}=${raw} is invalid: expected variable=placeholder pairs separated by commas`,
      );
    return [m[1]!, placeholderVar(name, raw, m[2]!)];
  });
  const secret = tokenFile(env, 'MOVTICKET_SMS_ALIYUN_KEY_SECRET_FILE');
  if (secret === undefined) throw new ConfigError(`MOVTICKET_SMS_ALIYUN_KEY_SECRET_FILE is required ${why}`);
  return {
    accessKeyId: requiredVar(env, 'MOVTICKET_SMS_ALIYUN_KEY_ID', why),
    accessKeySecret: secret,
    endpoint: endpointVar(env, 'MOVTICKET_SMS_ALIYUN_ENDPOINT', 'https://dysmsapi.aliyuncs.com/'),
    regionId: env.MOVTICKET_SMS_ALIYUN_REGION || 'cn-hangzhou',
    signName: requiredVar(env, 'MOVTICKET_SMS_ALIYUN_SIGN_NAME', why),
    templateCode: requiredVar(env, 'MOVTICKET_SMS_ALIYUN_TEMPLATE_CODE', why),
    templateParams,
  };
}

function tencentSettings(env: Env): TencentSmsSettings {
  const why = 'with MOVTICKET_SMS=tencent';
  const name = 'MOVTICKET_SMS_TENCENT_TEMPLATE_PARAMS';
  const raw = env[name] || SMS_PLACEHOLDERS.join(',');
  const templateParams = raw.split(',').map((p) => placeholderVar(name, raw, p.trim()));
  const secret = tokenFile(env, 'MOVTICKET_SMS_TENCENT_SECRET_KEY_FILE');
  if (secret === undefined) throw new ConfigError(`MOVTICKET_SMS_TENCENT_SECRET_KEY_FILE is required ${why}`);
  return {
    secretId: requiredVar(env, 'MOVTICKET_SMS_TENCENT_SECRET_ID', why),
    secretKey: secret,
    endpoint: endpointVar(env, 'MOVTICKET_SMS_TENCENT_ENDPOINT', 'https://sms.tencentcloudapi.com/'),
    region: env.MOVTICKET_SMS_TENCENT_REGION || 'ap-guangzhou',
    sdkAppId: requiredVar(env, 'MOVTICKET_SMS_TENCENT_APP_ID', why),
    signName: requiredVar(env, 'MOVTICKET_SMS_TENCENT_SIGN_NAME', why),
    templateId: requiredVar(env, 'MOVTICKET_SMS_TENCENT_TEMPLATE_ID', why),
    templateParams,
  };
}

export const DEFAULT_SMS_TEMPLATE =
  '【电影票】您已成功购买{target}电影票兑换券{count}张，卡号{card_no}，密码{password}，有效期至{valid_until}，请凭卡号和密码到影院兑换。';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name}=${raw} is invalid: expected an integer from ${min} to ${max}`);
  }
  return Number(raw);
}

function sqliteSyncVar(env: Env): 'full' | 'normal' {
  const v = env.MOVTICKET_SQLITE_SYNC || 'full';
  if (v !== 'full' && v !== 'normal') {
    throw new ConfigError(`MOVTICKET_SQLITE_SYNC=${v} is invalid: expected full or normal`);
  }
  return v;
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name}=${raw} is invalid: expected true or false`);
}

/** The token in the file, trimmed; the refusal never quotes the file's content. */
function tokenFile(env: Env, name: string): string | undefined {
  const file = env[name];
  if (file === undefined || file === '') return undefined;
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(
      `${name}=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (!/^[\x21-\x7e]{16,512}$/.test(token)) {
    throw new ConfigError(`${name}=${file} must hold one token of 16 to 512 printable characters`);
  }
  return token;
}

const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGES.has(entry)) return true;
  const slash = entry.indexOf('/');
  const ip = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = entry.slice(slash + 1);
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * MOVTICKET_TRUST_PROXY: the proxies allowed to say who the client is. `true` (trust every hop)
 * and hop counts are refused: with either, a client that reaches the server directly, or that
 * prepends entries to X-Forwarded-For, chooses its own address, which the partner IP allow-lists
 * and the sign-in throttle rely on. Fastify 5 ignores hop counts for the same reason.
 */
function trustProxyVar(env: Env): false | string[] {
  const name = 'MOVTICKET_TRUST_PROXY';
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '' || /^(0|false|no|off)$/i.test(raw)) return false;
  const forms =
    'expected false or a comma-separated list of the proxy addresses or CIDR ranges ' +
    '(e.g. 127.0.0.1 or 10.0.0.0/8,::1; also loopback, linklocal, uniquelocal)';
  if (/^(true|yes|on|[0-9]+)$/i.test(raw)) {
    throw new ConfigError(
      `${name}=${raw} is no longer accepted: it let any client choose its own address through ` +
        `X-Forwarded-For; ${forms}`,
    );
  }
  const entries = raw.split(',').map((e) => e.trim());
  const bad = entries.find((e) => !isProxyAddress(e));
  if (bad !== undefined)
    throw new ConfigError(`${name}=${raw} is invalid: "${bad}" is not a proxy address; ${forms}`);
  return entries;
}

/** Reads and validates the configuration once; nothing else reads process.env. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      `DATABASE_URL must start with postgres:// (unset it to use the embedded SQLite database)`,
    );
  }
  const host = env.HOST || '127.0.0.1';
  const timeZone = env.MOVTICKET_TZ || 'Asia/Shanghai';
  try {
    assertTimeZone(timeZone);
  } catch {
    throw new ConfigError(`MOVTICKET_TZ=${timeZone} is not a known IANA time zone`);
  }
  const sms = env.MOVTICKET_SMS || 'console';
  const providers = SMS_PROVIDERS.test(sms) ? sms.split(',') : [];
  if (providers.length === 2 && providers[0] === providers[1]) {
    throw new ConfigError(`MOVTICKET_SMS=${sms} is invalid: a provider is named twice`);
  }
  if (providers.length === 0 && !/^(console|file:.+|https?:\/\/.+)$/.test(sms)) {
    throw new ConfigError(
      `MOVTICKET_SMS=${sms} is invalid: expected console, file:PATH, an http(s):// URL, aliyun, tencent or aliyun,tencent`,
    );
  }
  if (sms.startsWith('http')) {
    try {
      new URL(sms);
    } catch {
      throw new ConfigError(`MOVTICKET_SMS=${sms} is not a valid URL`);
    }
  }
  const demoKey = env.MOVTICKET_DEMO_KEY || undefined;
  if (demoKey !== undefined && !/^[A-Za-z0-9]{8,64}$/.test(demoKey)) {
    throw new ConfigError('MOVTICKET_DEMO_KEY is invalid: expected 8 to 64 letters or digits');
  }
  let callbackAllow: string[];
  try {
    callbackAllow = parseCallbackAllow(env.MOVTICKET_CALLBACK_ALLOW ?? '');
  } catch (err) {
    throw new ConfigError(`MOVTICKET_CALLBACK_ALLOW is invalid: ${(err as Error).message}`);
  }
  const keyFile = env.MOVTICKET_SECRET_KEY_FILE || undefined;
  if (keyFile !== undefined && (/[\0\r\n]/.test(keyFile) || keyFile.trim() === '' || keyFile.endsWith('/'))) {
    throw new ConfigError('MOVTICKET_SECRET_KEY_FILE is invalid: expected the path of a file');
  }
  const config: Config = {
    port: intVar(env, 'PORT', 8080, 0, 65535),
    host,
    databaseUrl,
    dataDir: path.resolve(env.MOVTICKET_DATA_DIR || './data'),
    sqliteSync: sqliteSyncVar(env),
    secretKeyFile: keyFile === undefined ? undefined : path.resolve(keyFile),
    demo: boolVar(env, 'MOVTICKET_DEMO', false),
    demoKey,
    sandbox: false,
    timeZone,
    sms,
    smsAliyun: providers.includes('aliyun') ? aliyunSettings(env) : undefined,
    smsTencent: providers.includes('tencent') ? tencentSettings(env) : undefined,
    smsReceiptPollMs: intVar(env, 'MOVTICKET_SMS_RECEIPT_POLL_MS', 60_000, 1_000, 3_600_000),
    smsReceiptHours: intVar(env, 'MOVTICKET_SMS_RECEIPT_HOURS', 72, 1, 720),
    smsTemplate: env.MOVTICKET_SMS_TEMPLATE || DEFAULT_SMS_TEMPLATE,
    smsTimeoutMs: intVar(env, 'MOVTICKET_SMS_TIMEOUT_MS', 5000, 100, 120_000),
    smsMaxAttempts: intVar(env, 'MOVTICKET_SMS_MAX_ATTEMPTS', 10, 1, 100),
    smsLeaseMs: intVar(env, 'MOVTICKET_SMS_LEASE_MS', 15_000, 3_000, 3_600_000),
    smsConcurrency: intVar(env, 'MOVTICKET_SMS_CONCURRENCY', 20, 1, 500),
    smsBackoffBaseMs: intVar(env, 'MOVTICKET_SMS_BACKOFF_MS', 2_000, 100, 3_600_000),
    smsBackoffMaxMs: intVar(env, 'MOVTICKET_SMS_BACKOFF_MAX_MS', 600_000, 100, 86_400_000),
    timestampWindowSec: intVar(env, 'MOVTICKET_TIMESTAMP_WINDOW', 300, 1, 86_400),
    requestTimeoutMs: intVar(env, 'MOVTICKET_REQUEST_TIMEOUT_MS', 10_000, 100, 120_000),
    headersTimeoutMs: intVar(env, 'MOVTICKET_HEADERS_TIMEOUT_MS', 10_000, 100, 300_000),
    receiveTimeoutMs: intVar(env, 'MOVTICKET_RECEIVE_TIMEOUT_MS', 30_000, 100, 300_000),
    payDeadlineMin: intVar(env, 'MOVTICKET_PAY_DEADLINE', 30, 1, 10_080),
    cinemaValidDays: intVar(env, 'MOVTICKET_CINEMA_VALID_DAYS', 90, 1, 3650),
    reqIdRetentionDays: intVar(env, 'MOVTICKET_REQ_ID_DAYS', 7, 1, 365),
    logLevel: env.LOG_LEVEL || 'info',
    metricsPort: env.MOVTICKET_METRICS_PORT ? intVar(env, 'MOVTICKET_METRICS_PORT', 0, 0, 65535) : undefined,
    metricsHost: env.MOVTICKET_METRICS_HOST || '127.0.0.1',
    metricsToken: tokenFile(env, 'MOVTICKET_METRICS_TOKEN_FILE'),
    trustProxy: trustProxyVar(env),
    callbackAllow,
    ...overrides,
  };
  // Unset, the sandbox follows the demo (also when --demo turned it on).
  if (overrides.sandbox === undefined) config.sandbox = boolVar(env, 'MOVTICKET_SANDBOX', config.demo);
  // Node refuses a headers timeout above the whole-request timeout.
  if (config.headersTimeoutMs > config.receiveTimeoutMs) {
    throw new ConfigError(
      `MOVTICKET_HEADERS_TIMEOUT_MS=${config.headersTimeoutMs} is invalid: it must not exceed MOVTICKET_RECEIVE_TIMEOUT_MS=${config.receiveTimeoutMs}`,
    );
  }
  if (config.smsBackoffMaxMs < config.smsBackoffBaseMs) {
    throw new ConfigError(
      `MOVTICKET_SMS_BACKOFF_MAX_MS=${config.smsBackoffMaxMs} is invalid: it must not be below MOVTICKET_SMS_BACKOFF_MS=${config.smsBackoffBaseMs}`,
    );
  }
  if (!/^(fatal|error|warn|info|debug|trace|silent)$/.test(config.logLevel)) {
    throw new ConfigError(`LOG_LEVEL=${config.logLevel} is invalid`);
  }
  return config;
}
