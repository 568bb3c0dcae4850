import type { FastifyRequest } from 'fastify';
import { AppError, contractError } from '../../errors.js';
import { MALFORMED_VALUE } from './partner-api.js';

/** Request bodies of the partner API: urlencoded forms and multipart, parsed to one shape. */

export const bodyTooLarge = () => contractError('invalid_param', 'request body exceeds 16 KiB');

function addParam(params: Record<string, unknown>, name: string, value: unknown): void {
  const prev = params[name];
  if (prev === undefined) params[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else params[name] = [prev, value];
}

/** One name or value of a form body; null when it is not UTF-8 percent-encoding. */
function decodeFormComponent(raw: string): string | null {
  // U+FFFD here means the raw body bytes were not UTF-8 (a conforming form body is ASCII).
  if (raw.includes('\uFFFD')) return null;
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/**
 * Strict `application/x-www-form-urlencoded`: a repeated name gives an array (which the API
 * rejects), an undecodable value is marked so the API can name it, an undecodable name is dropped.
 */
export function parseForm(text: string): Record<string, unknown> {
  const params = Object.create(null) as Record<string, unknown>;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeFormComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (name === null) continue;
    const value = eq < 0 ? '' : (decodeFormComponent(pair.slice(eq + 1)) ?? MALFORMED_VALUE);
    addParam(params, name, value);
  }
  return params;
}

/** `multipart/form-data` to the same shape as a form body; file parts carry no parameters. */
export async function readMultipart(
  request: FastifyRequest,
  limit: number,
): Promise<Record<string, unknown>> {
  // The plugin reads the raw stream, so Fastify's bodyLimit does not apply: count here.
  if (Number(request.headers['content-length']) > limit) throw bodyTooLarge();
  const params = Object.create(null) as Record<string, unknown>;
  let size = 0;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        size += (await part.toBuffer()).length;
      } else {
        if (part.valueTruncated) throw bodyTooLarge();
        // Busboy turns bytes that are not UTF-8 into U+FFFD; a JSON part would arrive parsed.
        const value =
          typeof part.value === 'string' && !part.value.includes('\uFFFD') ? part.value : MALFORMED_VALUE;
        size +=
          Buffer.byteLength(part.fieldname) + (typeof value === 'string' ? Buffer.byteLength(value) : 0);
        addParam(params, part.fieldname, value);
      }
      if (size > limit) throw bodyTooLarge();
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw bodyTooLarge();
    throw contractError('invalid_param', 'malformed multipart/form-data body');
  }
  return params;
}
