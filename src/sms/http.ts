import { SmsSendError } from './types.js';

/** Errors that happen before a request can have left: the provider cannot have it. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export interface ProviderAnswer {
  status: number;
  /** The parsed JSON body; null when the body was not JSON. */
  json: unknown;
}

/**
 * POSTs a request to a provider and reads its answer within `timeoutMs`. A failure to connect is
 * a `failover` error (nothing was sent); a timeout or a connection lost after sending is
 * `uncertain` (the provider may have the message); an answer that is not JSON came from
 * something between us and the provider's API: uncertain from a 5xx, failover otherwise.
 */
export async function postToProvider(
  provider: string,
  url: string,
  init: { headers: Record<string, string>; body: string },
  timeoutMs: number,
): Promise<ProviderAnswer> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: init.headers,
      body: init.body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
    text = await res.text();
  } catch (err) {
    const code = networkCode(err);
    if (code !== undefined && NOT_SENT.has(code)) {
      throw new SmsSendError('failover', provider, null, `${provider} unreachable: ${code}`);
    }
    const what =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : `connection lost (${code ?? describe(err)})`;
    throw new SmsSendError('uncertain', provider, null, `${provider}: ${what}`);
  }
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    const kind = res.status >= 500 ? 'uncertain' : 'failover';
    throw new SmsSendError(kind, provider, null, `${provider} answered HTTP ${res.status} without JSON`);
  }
  return { status: res.status, json };
}

function networkCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  const code = cause?.code ?? (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.name : 'error';
}

/** A JSON object's string field, or undefined. */
export function str(o: unknown, key: string): string | undefined {
  const v = (o as Record<string, unknown> | null)?.[key];
  return typeof v === 'string' ? v : undefined;
}
