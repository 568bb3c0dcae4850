import fs from 'node:fs/promises';
import type { Config } from '../config.js';
import { maskMobile } from '../domain/sms-template.js';
import { aliyunProvider } from '../sms/aliyun.js';
import { providerChain } from '../sms/chain.js';
import { tencentProvider } from '../sms/tencent.js';
import type { SmsProvider, SmsSender } from '../sms/types.js';

export type { SmsMessage, SmsSender } from '../sms/types.js';

export interface SenderLogger {
  info(obj: object, msg: string): void;
}

/** Logs a masked line instead of sending (the default, for development). */
export function consoleSender(log: SenderLogger): SmsSender {
  return {
    name: 'console',
    send: async (m) => {
      log.info(
        { sms_id: m.id, mobile: maskMobile(m.mobile), length: m.text.length },
        'sms (console sender, not sent)',
      );
    },
  };
}

/**
 * Appends one JSON line per message (tests and demos); the file stays open between messages. The
 * lines carry card passwords: a regular file is created, or tightened to, owner-only.
 */
export function fileSender(file: string): SmsSender {
  let handle: Promise<fs.FileHandle> | null = null;
  return {
    name: 'file',
    send: async (m) => {
      handle ??= openPrivate(file);
      const line =
        JSON.stringify({ id: m.id, mobile: m.mobile, text: m.text, at: new Date().toISOString() }) + '\n';
      try {
        await (await handle).appendFile(line);
      } catch (err) {
        handle = null;
        throw err;
      }
    },
  };
}

async function openPrivate(file: string): Promise<fs.FileHandle> {
  const handle = await fs.open(file, 'a', 0o600);
  try {
    const stat = await handle.stat();
    // Not a device such as /dev/stdout, whose mode is not ours to change.
    if (stat.isFile() && (stat.mode & 0o077) !== 0) await handle.chmod(0o600);
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** POSTs `{id, mobile, text}` as JSON; a 2xx answer within the timeout means accepted. */
export function httpSender(url: string, timeoutMs: number): SmsSender {
  return {
    name: 'http',
    send: async (m) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': m.id },
        body: JSON.stringify({ id: m.id, mobile: m.mobile, text: m.text }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`gateway answered HTTP ${res.status}`);
    },
  };
}

/** Picks the sender named by `MOVTICKET_SMS`: console, file, an http gateway, or providers in order. */
export function senderFromConfig(
  config: Pick<Config, 'sms' | 'smsTimeoutMs' | 'smsAliyun' | 'smsTencent'>,
  log: SenderLogger,
  wallClock: () => number = Date.now,
): SmsSender {
  const setting = config.sms;
  if (setting === 'console') return consoleSender(log);
  if (setting.startsWith('file:')) return fileSender(setting.slice('file:'.length));
  if (/^https?:/.test(setting)) return httpSender(setting, config.smsTimeoutMs);
  const providers = setting.split(',').map((name): SmsProvider => {
    const timeoutMs = config.smsTimeoutMs;
    if (name === 'aliyun' && config.smsAliyun)
      return aliyunProvider({ ...config.smsAliyun, timeoutMs, wallClock });
    if (name === 'tencent' && config.smsTencent)
      return tencentProvider({ ...config.smsTencent, timeoutMs, wallClock });
    throw new Error(`MOVTICKET_SMS names ${name}, whose settings are missing`);
  });
  return providerChain(providers, wallClock);
}
