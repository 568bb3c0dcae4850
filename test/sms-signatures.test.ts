import { describe, expect, it } from 'vitest';
import {
  canonicalQuery,
  percentEncode,
  rpcSignature,
  stringToSign,
  verifyRpcSignature,
} from '../src/sms/aliyun-signature.js';
import {
  parseTc3Authorization,
  tc3Authorization,
  tc3CanonicalRequest,
  tc3StringToSign,
  verifyTc3Signature,
} from '../src/sms/tencent-signature.js';

// Aliyun's published SendSms signature example (SMS API docs, "签名机制"): AccessKeyId testId,
// secret testSecret, GET, and its expected Signature.
const ALIYUN_EXAMPLE = {
  AccessKeyId: 'testId',
  Action: 'SendSms',
  Format: 'XML',
  OutId: '123',
  PhoneNumbers: '15300000001',
  RegionId: 'cn-hangzhou',
  SignName: '阿里云短信测试专用',
  SignatureMethod: 'HMAC-SHA1',
  SignatureNonce: '45e25e9b-0a6f-4070-8c85-2956eda1b466',
  SignatureVersion: '1.0',
  TemplateCode: 'SMS_71390007',
  TemplateParam: '{"customer":"test"}',
  Timestamp: '2017-07-12T02:42:19Z',
  Version: '2017-05-25',
};

// Tencent Cloud's published TC3-HMAC-SHA256 example (API 3.0 "签名方法 v3"): CVM
// DescribeInstances, SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE, timestamp 1551113065.
const TENCENT_EXAMPLE = {
  host: 'cvm.tencentcloudapi.com',
  contentType: 'application/json; charset=utf-8',
  payload: '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}',
  timestamp: 1551113065,
  service: 'cvm',
};
const TENCENT_KEY = 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE';

describe('Aliyun RPC signature', () => {
  it('reproduces the published SendSms example', () => {
    expect(canonicalQuery(ALIYUN_EXAMPLE)).toBe(
      'AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001&RegionId=cn-hangzhou' +
        '&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95%E4%B8%93%E7%94%A8' +
        '&SignatureMethod=HMAC-SHA1&SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466&SignatureVersion=1.0' +
        '&TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D' +
        '&Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25',
    );
    expect(stringToSign('GET', ALIYUN_EXAMPLE)).toMatch(
      /^GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26/,
    );
    const signature = rpcSignature('GET', ALIYUN_EXAMPLE, 'testSecret');
    expect(signature).toBe('zJDF+Lrzhj/ThnlvIToysFRq6t4=');
    expect(percentEncode(signature)).toBe('zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D');
  });

  it('accepts the example signature and refuses it for another secret, method or parameter', () => {
    const signed = { ...ALIYUN_EXAMPLE, Signature: 'zJDF+Lrzhj/ThnlvIToysFRq6t4=' };
    expect(verifyRpcSignature('GET', signed, 'testSecret')).toBe(true);
    expect(verifyRpcSignature('GET', signed, 'otherSecret')).toBe(false);
    expect(verifyRpcSignature('POST', signed, 'testSecret')).toBe(false);
    expect(verifyRpcSignature('GET', { ...signed, PhoneNumbers: '15300000002' }, 'testSecret')).toBe(false);
  });

  it('encodes as RFC 3986 requires: space as %20, * and ~ as Aliyun expects', () => {
    expect(percentEncode("a b*c~d!'()")).toBe('a%20b%2Ac~d%21%27%28%29');
  });
});

describe('Tencent TC3-HMAC-SHA256 signature', () => {
  it('reproduces the published DescribeInstances example step by step', () => {
    expect(tc3CanonicalRequest(TENCENT_EXAMPLE)).toBe(
      'POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n' +
        '35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064',
    );
    expect(tc3StringToSign(TENCENT_EXAMPLE)).toBe(
      'TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n' +
        '5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031',
    );
    const authorization = tc3Authorization(
      TENCENT_EXAMPLE,
      'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
      TENCENT_KEY,
    );
    expect(authorization).toBe(
      'TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, ' +
        'SignedHeaders=content-type;host, ' +
        'Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168',
    );
    const parsed = parseTc3Authorization(authorization)!;
    expect(parsed).toMatchObject({ date: '2019-02-25', service: 'cvm', signedHeaders: 'content-type;host' });
    expect(verifyTc3Signature(TENCENT_EXAMPLE, TENCENT_KEY, parsed.signature)).toBe(true);
  });

  it('refuses the example signature for another key, body or timestamp', () => {
    const signature = '72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168';
    expect(verifyTc3Signature(TENCENT_EXAMPLE, 'otherKey', signature)).toBe(false);
    expect(verifyTc3Signature({ ...TENCENT_EXAMPLE, payload: '{"Limit": 2}' }, TENCENT_KEY, signature)).toBe(
      false,
    );
    expect(verifyTc3Signature({ ...TENCENT_EXAMPLE, timestamp: 1551113066 }, TENCENT_KEY, signature)).toBe(
      false,
    );
    expect(parseTc3Authorization('TC3-HMAC-SHA256 Credential=x')).toBeNull();
  });
});
