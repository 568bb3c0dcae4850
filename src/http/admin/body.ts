import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseForm } from '../partner/body.js';
import { httpRefusal, unauthenticated } from '../../errors.js';

/**
 * Request bodies under /admin. The app's root parsers serve the partner contract (16 KiB forms,
 * multipart read by a root preValidation hook that drops files); these replace them inside the
 * admin plugin's encapsulation context only.
 *
 * - `application/x-www-form-urlencoded` → `Record<string, unknown>` (repeated names → arrays), 1 MiB.
 * - `multipart/form-data` → the same record, where a file part's value is an `UploadedFile`, 5 MiB,
 *   at most 100 parts of which 10 files, a text field at most 1 MiB (as a whole urlencoded form);
 *   beyond that a 400 saying so in Chinese (only console pages take multipart). Read only for a
 *   signed-in user: routes check roles before the body is read (auth/guards.ts moves their guards to
 *   onRequest), and a public route refuses a multipart body unread. The parts are counted by
 *   their delimiters before anything is parsed. Buffered and parsed here, so `request.file()`/
 *   `request.parts()` of @fastify/multipart are NOT used on admin routes (they would answer 406):
 *   read `request.body` instead (`uploadedFile()`).
 * - `application/json` → the parsed value (an empty body → undefined), 1 MiB unless told less.
 * - `text/csv` → the text, 5 MiB.
 * Anything else → 415.
 */

export const FORM_LIMIT = 1024 * 1024;
export const UPLOAD_LIMIT = 5 * 1024 * 1024;
/** Parts of a multipart body, fields and files together. */
export const MAX_PARTS = 100;
export const MAX_FILES = 10;
/** A text part of a multipart body. */
export const FIELD_LIMIT = FORM_LIMIT;

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

const malformed = () => httpRefusal('invalid', '表单内容格式有误，请刷新页面后重新提交。');

/** The `boundary` parameter of a multipart content type (RFC 2046: 1 to 70 characters). */
function boundaryOf(contentType: string): string | undefined {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/** Delimiter lines in the body, counting no further than `max` + 1. */
function countDelimiters(body: Buffer, boundary: string, max: number): number {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let count = 0;
  for (let at = body.indexOf(delimiter); at >= 0 && count <= max;) {
    count++;
    at = body.indexOf(delimiter, at + delimiter.length);
  }
  return count;
}

async function parseMultipart(contentType: string, body: Buffer): Promise<Record<string, unknown>> {
  const boundary = boundaryOf(contentType);
  if (boundary === undefined) throw malformed();
  // Every part opens with a delimiter and the body closes with one: count before parsing, which
  // costs a scan of the bytes rather than an object per part.
  if (countDelimiters(body, boundary, MAX_PARTS + 1) > MAX_PARTS + 1) {
    throw httpRefusal('invalid', `表单内容过多：最多 ${MAX_PARTS} 项（含文件），请减少后重新提交。`);
  }
  let form: FormData;
  try {
    form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw malformed();
  }
  const params = Object.create(null) as Record<string, unknown>;
  let files = 0;
  for (const [name, value] of form) {
    if (typeof value === 'string') {
      if (Buffer.byteLength(value) > FIELD_LIMIT) {
        throw httpRefusal('invalid', '表单中有一项内容超过 1 MiB，请改为上传文件。');
      }
      addParam(params, name, value);
    } else {
      if (++files > MAX_FILES) {
        throw httpRefusal('invalid', `一次最多上传 ${MAX_FILES} 个文件。`);
      }
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

/**
 * Installs the JSON and CSV parsers, and with `forms` the form and multipart parsers, on `scope`.
 * `jsonLimit`: a smaller limit for JSON bodies (the public sign-in endpoint).
 */
export function installBodyParsers(
  scope: FastifyInstance,
  opts: { forms: boolean; jsonLimit?: number },
): void {
  scope.removeAllContentTypeParsers();
  const json = scope.getDefaultJsonParser('error', 'error');
  scope.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: Math.min(opts.jsonLimit ?? FORM_LIMIT, FORM_LIMIT) },
    (request, body, done) => {
      if (body === '') return done(null, undefined);
      void json(request, body as string, done);
    },
  );
  scope.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: UPLOAD_LIMIT }, (_req, body, done) =>
    done(null, body),
  );
  if (!opts.forms) return;
  // Uploads are for signed-in users only (a public route's body is small and never multipart).
  scope.addHook('preParsing', (request, _reply, payload, done) => {
    if (!request.user && request.headers['content-type']?.toLowerCase().startsWith('multipart/')) {
      done(unauthenticated());
      return;
    }
    done(null, payload);
  });
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
