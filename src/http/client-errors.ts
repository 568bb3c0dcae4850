import type { Socket } from 'node:net';
import { contractError } from '../errors.js';
import { errorResponse } from './envelope.js';

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
        ? contractError(
            'timeout',
            `request not received in time: headers within ${limits.headersTimeoutMs} ms, the whole request within ${limits.receiveTimeoutMs} ms`,
          )
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? contractError('invalid_param', 'request headers are too large')
          : contractError('invalid_param', 'malformed HTTP request');
    if (socket.writable) {
      const { status, contentType, body } = errorResponse(apiError, 'xml');
      const reason = status === 504 ? 'Gateway Timeout' : 'Bad Request';
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${contentType}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
