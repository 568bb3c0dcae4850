import { describe, expect, it } from 'vitest';
import { AppError, cardState, contractError, notFound, rateLimited, StorageUnavailable } from './errors.js';

describe('AppError', () => {
  it('answers the management API with its own status and channels with the contract type and status', () => {
    const e = cardState('1234567890123456', 'used', 'ban');
    expect([e.code, e.status, e.type, e.partnerStatus]).toEqual(['card_state', 409, 'card_state', 406]);
    const n = notFound('card', '1234567890123456');
    expect([n.code, n.status, n.type, n.partnerStatus]).toEqual(['not_found', 404, 'not_found', 400]);
    const v = new AppError('invalid', 'x is required');
    expect([v.status, v.type]).toEqual([400, 'invalid_param']);
  });

  it('keeps a contract error at the contract status', () => {
    const e = contractError('invalid_signature', 'hashcode does not match');
    expect([e.code, e.status, e.type, e.partnerStatus]).toEqual([
      'invalid_signature',
      401,
      'invalid_signature',
      401,
    ]);
  });

  it('says when to retry a rate-limited request, in whole seconds of at least one', () => {
    const e = rateLimited('slow down', 0.2);
    expect(e.headers).toEqual({ 'retry-after': '1' });
    expect(e.details).toEqual({ retryAfterSec: 1 });
  });

  it('makes storage unavailable a 503 with a retry-after, keeping the driver error as its cause', () => {
    const cause = Object.assign(new Error('Connection terminated'), { code: '57P01' });
    const e = new StorageUnavailable(cause);
    expect([e.code, e.status, e.type, e.headers['retry-after']]).toEqual([
      'unavailable',
      503,
      'unavailable',
      '1',
    ]);
    expect(e.cause).toBe(cause);
  });
});
