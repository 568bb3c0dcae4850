/** The one renderer of the contract's envelopes, in XML or JSON. */

import type { WireObject, WireValue } from '../domain/wire.js';
import { AppError, type ErrorType, StorageUnavailable } from '../errors.js';

export type { WireObject, WireValue };

export type Format = 'xml' | 'json';

/** An error object: `message`, `type`, then any elements of the type's own (order_exists' `card_no`). */
export interface ErrorObject {
  message: string;
  type: string;
  [extra: string]: string;
}

export type Envelope = { code: number; data: WireObject } | { code: number; error: ErrorObject };

export const CONTENT_TYPE: Record<Format, string> = {
  xml: 'application/xml; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

// Characters XML 1.0 cannot carry at all are dropped; markup characters are escaped.
const INVALID_XML =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const MARKUP = /[&<>"']/g;
const ENTITY: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(text: string): string {
  return text.replace(INVALID_XML, '').replace(MARKUP, (c) => ENTITY[c]!);
}

function xmlValue(name: string, value: WireValue): string {
  if (typeof value === 'string') {
    return value === '' ? `<${name}></${name}>` : `<${name}>${escapeXml(value)}</${name}>`;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return `<${name}/>`;
    let s = `<${name}>`;
    for (const item of value) s += xmlValue('item', item);
    return s + `</${name}>`;
  }
  return `<${name}>${xmlObject(value)}</${name}>`;
}

function xmlObject(obj: WireObject): string {
  let s = '';
  for (const key of Object.keys(obj)) s += xmlValue(key, obj[key]!);
  return s;
}

/** Renders `data` (the inside of a success envelope) alone, so it can be cached and spliced. */
export function renderData(data: WireObject, format: Format): string {
  return format === 'json' ? JSON.stringify(data) : xmlObject(data);
}

/** Wraps already-rendered data in a success envelope. */
export function wrapData(code: number, rendered: string, format: Format): string {
  return format === 'json'
    ? `{"code":${code},"data":${rendered}}`
    : `<?xml version="1.0" encoding="UTF-8"?>\n<response><code>${code}</code><data>${rendered}</data></response>`;
}

export function renderEnvelope(envelope: Envelope, format: Format): string {
  if ('data' in envelope) return wrapData(envelope.code, renderData(envelope.data, format), format);
  if (format === 'json') return JSON.stringify({ code: envelope.code, error: envelope.error });
  let fields = '';
  for (const [name, value] of Object.entries(envelope.error))
    fields += `<${name}>${escapeXml(value)}</${name}>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<response><code>${envelope.code}</code><error>${fields}</error></response>`;
}

export interface ErrorResponse {
  status: number;
  contentType: string;
  body: string;
  headers: Record<string, string>;
  type: ErrorType;
}

/**
 * The partner API's answer to a refusal: the contract's status and error envelope. Everything
 * that answers a channel with an error (the API, Fastify's own errors, the socket before a
 * request exists) renders it here.
 */
export function errorResponse(err: AppError, format: Format): ErrorResponse {
  const message =
    err instanceof StorageUnavailable
      ? 'storage is unavailable; retry later with the same req_id'
      : err.message;
  return {
    status: err.partnerStatus,
    contentType: CONTENT_TYPE[format],
    body: renderEnvelope(
      { code: err.partnerStatus, error: { message, type: err.type, ...err.extra } },
      format,
    ),
    headers: err.headers,
    type: err.type,
  };
}
