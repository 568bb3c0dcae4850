import type { Socket } from 'node:net';
import { ApiError } from '../errors.js';
import { CONTENT_TYPE, renderEnvelope } from './envelope.js';

/**
 * Answers what goes wrong before a request exists (a client too slow to send it, a head too
 * large or not HTTP) in the contract's envelope, then closes the connection. XML, because no
 * `format` could be read.
 */
export function clientErrorHandler(limits: { headersTimeoutMs: number; receiveTimeoutMs: number }) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const apiError =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ApiError(
            'timeout',
            `request not received in time: headers within ${limits.headersTimeoutMs} ms, the whole request within ${limits.receiveTimeoutMs} ms`,
          )
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? new ApiError('invalid_param', 'request headers are too large')
          : new ApiError('invalid_param', 'malformed HTTP request');
    if (socket.writable) {
      const body = renderEnvelope(
        { code: apiError.status, error: { message: apiError.message, type: apiError.type } },
        'xml',
      );
      const reason = apiError.status === 504 ? 'Gateway Timeout' : 'Bad Request';
      socket.write(
        `HTTP/1.1 ${apiError.status} ${reason}\r\nContent-Type: ${CONTENT_TYPE.xml}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
