import fs from 'node:fs';
import path from 'node:path';
import {
  ALIYUN_KEY_ID,
  ALIYUN_KEY_SECRET,
  ALIYUN_SIGN_NAME,
  ALIYUN_TEMPLATE,
  ALIYUN_TEMPLATE_PARAMS,
} from './fake-aliyun.js';
import {
  TENCENT_APP_ID,
  TENCENT_SECRET_ID,
  TENCENT_SECRET_KEY,
  TENCENT_SIGN_NAME,
  TENCENT_TEMPLATE,
  TENCENT_TEMPLATE_PARAMS,
} from './fake-tencent.js';

/**
 * The environment that points the server's providers at the fakes: `MOVTICKET_SMS` as given,
 * credentials (the secrets written owner-only into `dir`), signature, template and endpoints.
 */
export function fakeProviderEnv(
  sms: string,
  urls: { aliyun?: string; tencent?: string },
  dir: string,
): Record<string, string> {
  const secret = (name: string, value: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, value, { mode: 0o600 });
    return file;
  };
  return {
    MOVTICKET_SMS: sms,
    ...(urls.aliyun
      ? {
          MOVTICKET_SMS_ALIYUN_KEY_ID: ALIYUN_KEY_ID,
          MOVTICKET_SMS_ALIYUN_KEY_SECRET_FILE: secret('aliyun.secret', ALIYUN_KEY_SECRET),
          MOVTICKET_SMS_ALIYUN_ENDPOINT: urls.aliyun,
          MOVTICKET_SMS_ALIYUN_SIGN_NAME: ALIYUN_SIGN_NAME,
          MOVTICKET_SMS_ALIYUN_TEMPLATE_CODE: ALIYUN_TEMPLATE,
          MOVTICKET_SMS_ALIYUN_TEMPLATE_PARAMS: ALIYUN_TEMPLATE_PARAMS,
        }
      : {}),
    ...(urls.tencent
      ? {
          MOVTICKET_SMS_TENCENT_SECRET_ID: TENCENT_SECRET_ID,
          MOVTICKET_SMS_TENCENT_SECRET_KEY_FILE: secret('tencent.secret', TENCENT_SECRET_KEY),
          MOVTICKET_SMS_TENCENT_ENDPOINT: urls.tencent,
          MOVTICKET_SMS_TENCENT_APP_ID: TENCENT_APP_ID,
          MOVTICKET_SMS_TENCENT_SIGN_NAME: TENCENT_SIGN_NAME,
          MOVTICKET_SMS_TENCENT_TEMPLATE_ID: TENCENT_TEMPLATE,
          MOVTICKET_SMS_TENCENT_TEMPLATE_PARAMS: TENCENT_TEMPLATE_PARAMS,
        }
      : {}),
  };
}
