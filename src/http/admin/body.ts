import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseForm } from '../partner/body.js';
import { AdminHttpError } from './errors.js';

/**
 * Request bodies under /admin. The app's root parsers serve the partner contract (16 KiB forms,
 * multipart read by a root preValidation hook that drops files); these replace them inside the
 * admin plugin's encapsulation context only.
 *
 * - `application/x-www-form-urlencoded` → `Record<string, unknown>` (repeated names → arrays), 1 MiB.
 * - `multipart/form-data` → the same record, where a file part's value is an `UploadedFile`, 5 MiB.
 *   Buffered and parsed here, so `request.file()`/`request.parts()` of @fastify/multipart are NOT
 *   used on admin routes (they would answer 406): read `request.body` instead (`uploadedFile()`).
 * - `application/json` → the parsed value (an empty body → undefined), 1 MiB.
 * - `text/csv` → the text, 5 MiB.
 * Anything else → 415.
 */

export const FORM_LIMIT = 1024 * 1024;
export const UPLOAD_LIMIT = 5 * 1024 * 1024;

/** A file part of a multipart body. */
export interface UploadedFile {
  filename: string;
  mimetype: string;
  data: Buffer;
}

export function isUploadedFile(v: unknown): v is UploadedFile {
  return typeof v === 'object' && v !== null && Buffer.isBuffer((v as UploadedFile).data);
}

/** The file sent under `field` in a multipart body (the first, if several). */
export function uploadedFile(body: unknown, field: string): UploadedFile | undefined {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, field)) return undefined;
  const v = (body as Record<string, unknown>)[field];
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  return list.find(isUploadedFile);
}

function addParam(params: Record<string, unknown>, name: string, value: unknown): void {
  const prev = params[name];
  if (prev === undefined) params[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else params[name] = [prev, value];
}

async function parseMultipart(contentType: string, body: Buffer): Promise<Record<string, unknown>> {
  let form: FormData;
  try {
    form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new AdminHttpError(400, 'invalid', 'malformed multipart/form-data body');
  }
  const params = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of form) {
    if (typeof value === 'string') addParam(params, name, value);
    else {
      const file: UploadedFile = {
        filename: value.name,
        mimetype: value.type || 'application/octet-stream',
        data: Buffer.from(await value.arrayBuffer()),
      };
      addParam(params, name, file);
    }
  }
  return params;
}

/** Installs the JSON and CSV parsers, and with `forms` the form and multipart parsers, on `scope`. */
export function installBodyParsers(scope: FastifyInstance, opts: { forms: boolean }): void {
  scope.removeAllContentTypeParsers();
  const json = scope.getDefaultJsonParser('error', 'error');
  scope.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: FORM_LIMIT },
    (request, body, done) => {
      if (body === '') return done(null, undefined);
      void json(request, body as string, done);
    },
  );
  scope.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: UPLOAD_LIMIT }, (_req, body, done) =>
    done(null, body),
  );
  if (!opts.forms) return;
  scope.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT },
    (_req, body, done) => done(null, parseForm(body as string)),
  );
  scope.addContentTypeParser(
    'multipart/form-data',
    { parseAs: 'buffer', bodyLimit: UPLOAD_LIMIT },
    async (request: FastifyRequest, body: string | Buffer) =>
      parseMultipart(request.headers['content-type'] ?? '', body as Buffer),
  );
}
