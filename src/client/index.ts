/**
 * Channel SDK for the movTicket partner API (contract: docs/channel-guide.zh.md and .en.md).
 *
 * @module
 */
export { MovTicketClient } from './client.js';
export type { CallOptions, MovTicketClientOptions, RawResponse, ResponseFormat } from './client.js';
export { ERROR_TYPES, MovTicketError, isServerErrorType } from './errors.js';
export type { ClientErrorType, MovTicketErrorInit, MovTicketErrorType, ServerErrorType } from './errors.js';
export { EnvelopeParseError, isSuccess, normaliseData, parseEnvelope } from './parse.js';
export type { Envelope, ErrorEnvelope, SuccessEnvelope } from './parse.js';
export {
  COMMON_PARAMS,
  INTERFACE_PARAMS,
  computeHashcode,
  formatTimestamp,
  orderParams,
  randomReqId,
  signingString,
} from './sign.js';
export type { InterfaceName, SignField, SignMode } from './sign.js';
export type * from './types.js';
