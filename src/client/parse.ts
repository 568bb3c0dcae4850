import { XMLParser } from 'fast-xml-parser';

/** A success envelope: `{"code":200,"data":{…}}`. */
export interface SuccessEnvelope {
  code: number;
  data: Record<string, unknown>;
}

/**
 * An error envelope: `{"code":401,"error":{"message":"…","type":"invalid_signature"}}`. Some
 * refusals name more, e.g. the `card_no` of an existing order; such keys are kept as strings.
 */
export interface ErrorEnvelope {
  code: number;
  error: { message: string; type: string; [key: string]: string };
}

/** A parsed response body, in either format. */
export type Envelope = SuccessEnvelope | ErrorEnvelope;

/** Whether an envelope reports success (a 2xx `code` with `data`). */
export function isSuccess(envelope: Envelope): envelope is SuccessEnvelope {
  return 'data' in envelope && envelope.code >= 200 && envelope.code < 300;
}

/** Raised when a body is not a contract envelope. */
export class EnvelopeParseError extends Error {
  override readonly name = 'EnvelopeParseError';
}

const xmlParser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Every scalar is text on the wire: "001" and 16-digit card numbers must survive.
  parseTagValue: false,
  // Numeric character references (&#x5317;) are legal XML and must decode too.
  htmlEntities: true,
  trimValues: true,
  isArray: (name) => name === 'item',
});

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Turns the parser's tree into the JSON shape: `<key><item>…</item></key>` becomes an array. */
function fromXmlNode(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(fromXmlNode);
  if (isRecord(node)) {
    const keys = Object.keys(node);
    if (keys.length === 1 && keys[0] === 'item') return (node.item as unknown[]).map(fromXmlNode);
    return Object.fromEntries(keys.map((k) => [k, fromXmlNode(node[k])]));
  }
  return node === undefined || node === null ? '' : String(node);
}

/** JSON scalars inside `data` are strings on the wire; coerce defensively so types hold. */
function stringifyScalars(node: Json): unknown {
  if (Array.isArray(node)) return node.map(stringifyScalars);
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, stringifyScalars(v)]));
  }
  return node === null ? '' : String(node);
}

function toEnvelope(code: unknown, data: unknown, error: unknown, empty: unknown): Envelope {
  const numeric = typeof code === 'number' ? code : typeof code === 'string' ? Number(code) : NaN;
  if (!Number.isInteger(numeric)) throw new EnvelopeParseError('response has no numeric code');
  if (error !== undefined) {
    if (!isRecord(error)) throw new EnvelopeParseError('response error is not an object');
    const message = typeof error.message === 'string' ? error.message : '';
    const type = typeof error.type === 'string' ? error.type : '';
    if (!type) throw new EnvelopeParseError('response error has no type');
    const more: Record<string, string> = {};
    for (const [key, value] of Object.entries(error)) {
      if (key !== 'message' && key !== 'type' && (typeof value === 'string' || typeof value === 'number')) {
        more[key] = String(value);
      }
    }
    return { code: numeric, error: { ...more, message, type } };
  }
  if (data === undefined) throw new EnvelopeParseError('response has neither data nor error');
  if (data === empty) return { code: numeric, data: {} };
  if (!isRecord(data)) throw new EnvelopeParseError('response data is not an object');
  return { code: numeric, data };
}

function parseJson(body: string): Envelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new EnvelopeParseError('response is not valid JSON', { cause: err });
  }
  if (!isRecord(parsed)) throw new EnvelopeParseError('response is not a JSON object');
  const data = parsed.data === undefined ? undefined : stringifyScalars(parsed.data as Json);
  return toEnvelope(parsed.code, data, parsed.error, null);
}

function parseXml(body: string): Envelope {
  let parsed: unknown;
  try {
    parsed = xmlParser.parse(body, true);
  } catch (err) {
    throw new EnvelopeParseError('response is not valid XML', { cause: err });
  }
  if (!isRecord(parsed) || !isRecord(parsed.response)) {
    throw new EnvelopeParseError('response is not a <response> document');
  }
  const { code, data, error } = parsed.response;
  // `<data/>` parses as '' — an empty object.
  return toEnvelope(code, data === undefined ? undefined : fromXmlNode(data), error, '');
}

/**
 * Parses a response body into an envelope. The format follows the Content-Type, or
 * the first character of the body when the Content-Type says neither JSON nor XML.
 * Every scalar inside `data` comes back as a string; XML lists come back as arrays
 * (an empty `<cities/>` list, however, is `''` here — see {@link normaliseData}).
 *
 * @throws {EnvelopeParseError} when the body is not a contract envelope
 */
export function parseEnvelope(body: string, contentType = ''): Envelope {
  const ct = contentType.toLowerCase();
  if (ct.includes('json')) return parseJson(body);
  if (ct.includes('xml')) return parseXml(body);
  return body.trimStart().startsWith('{') ? parseJson(body) : parseXml(body);
}

/** Which `data` key holds a list, per interface. */
const LIST_KEYS: Readonly<Record<string, string>> = {
  cities: 'cities',
  regionsByCity: 'regions',
  cinemasByRegion: 'cinemas',
  kinds: 'kinds',
  cinemasByKind: 'cinemas',
};

/** Which interfaces answer with `data.card`. */
const CARD_METHODS = new Set(['buyByCinema', 'buyByKind', 'payByCard', 'status', 'ban', 'resendSms']);

/**
 * Brings a success envelope's `data` into the interface's documented shape: list keys
 * become arrays (an empty XML element is an empty list, a single `<item>` a
 * one-element list) and `card` must be an object.
 *
 * @throws {EnvelopeParseError} when a documented key is missing or has the wrong shape
 */
export function normaliseData(method: string, data: Record<string, unknown>): Record<string, unknown> {
  const listKey = LIST_KEYS[method];
  if (listKey !== undefined) {
    const list = data[listKey];
    if (list === '') return { ...data, [listKey]: [] };
    if (!Array.isArray(list)) throw new EnvelopeParseError(`response data.${listKey} is not a list`);
    if (!list.every(isRecord)) throw new EnvelopeParseError(`response data.${listKey} has a non-object item`);
  }
  if (CARD_METHODS.has(method) && !isRecord(data.card)) {
    throw new EnvelopeParseError('response data.card is not an object');
  }
  return data;
}
