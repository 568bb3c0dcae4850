import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/** Where the partner API's OpenAPI document is served; the same name as the repository file. */
export const PARTNER_OPENAPI_URL = '/docs/partner-api.openapi.yaml';

/**
 * The repository's copy of the document. This module sits two levels below the package root
 * both as source (src/http/) and compiled (dist/http/), so one relative path serves both.
 */
export const PARTNER_OPENAPI_FILE = fileURLToPath(
  new URL('../../docs/partner-api.openapi.yaml', import.meta.url),
);

let document: Buffer | undefined;

function readDocument(): Buffer {
  try {
    document ??= fs.readFileSync(PARTNER_OPENAPI_FILE);
  } catch (err) {
    throw new Error(`cannot read the partner API document ${PARTNER_OPENAPI_FILE}`, { cause: err });
  }
  return document;
}

/**
 * Serves the partner API's OpenAPI document: public contract text, so without authentication
 * and outside the partner API's signed routes. The file is read once, when the first app starts.
 */
export function registerDocs(fastify: FastifyInstance): void {
  const body = readDocument();
  fastify.get(PARTNER_OPENAPI_URL, (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').type('application/yaml; charset=utf-8').send(body),
  );
}
