import { describe, expect, it } from 'vitest';
import { EnvelopeParseError, normaliseData, parseEnvelope } from './parse.js';

const xml = (inner: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<response>${inner}</response>`;

describe('parseEnvelope', () => {
  it('reads the seed XML cities example, keeping every scalar a string', () => {
    const body = xml(`
      <code>200</code>
      <data>
      <cities>
        <item><code_id>001</code_id><parent_id>0</parent_id><code_name>北京</code_name><remark>bj</remark></item>
        <item><code_id>002</code_id><parent_id>0</parent_id><code_name>武汉</code_name><remark>wh</remark></item>
      </cities>
      </data>`);
    expect(parseEnvelope(body, 'application/xml; charset=utf-8')).toEqual({
      code: 200,
      data: {
        cities: [
          { code_id: '001', parent_id: '0', code_name: '北京', remark: 'bj' },
          { code_id: '002', parent_id: '0', code_name: '武汉', remark: 'wh' },
        ],
      },
    });
  });

  it('reads the seed JSON cities example', () => {
    const body =
      '{"code":200,"data":{"cities":[{"code_id":"001","parent_id":"0","code_name":"\\u5317\\u4eac","remark":"bj"}]}}';
    expect(parseEnvelope(body, 'application/json')).toEqual({
      code: 200,
      data: { cities: [{ code_id: '001', parent_id: '0', code_name: '北京', remark: 'bj' }] },
    });
  });

  it('turns a single XML item into a one-element list', () => {
    const env = parseEnvelope(
      xml('<code>200</code><data><kinds><item><kind_id>1</kind_id></item></kinds></data>'),
    );
    expect(env).toEqual({ code: 200, data: { kinds: [{ kind_id: '1' }] } });
  });

  it('keeps money, leading zeros and card numbers as the exact text sent', () => {
    const env = parseEnvelope(
      xml(
        '<code>200</code><data><card><card_no>0281234567890123</card_no><price>35.00</price>' +
          '<count>2</count><kind_id/><cinema_id></cinema_id></card></data>',
      ),
    );
    expect(env).toEqual({
      code: 200,
      data: { card: { card_no: '0281234567890123', price: '35.00', count: '2', kind_id: '', cinema_id: '' } },
    });
  });

  it('decodes XML escapes and numeric character references', () => {
    const env = parseEnvelope(xml('<code>200</code><data><a>A&amp;B &lt;x&gt; &#x5317;&#20140;</a></data>'));
    expect(env).toEqual({ code: 200, data: { a: 'A&B <x> 北京' } });
  });

  it('coerces stray JSON numbers and nulls inside data to strings', () => {
    expect(
      parseEnvelope('{"code":200,"data":{"card":{"count":2,"paid_at":null}}}', 'application/json'),
    ).toEqual({
      code: 200,
      data: { card: { count: '2', paid_at: '' } },
    });
  });

  it('reads XML and JSON error envelopes', () => {
    const x = xml(
      '<code>401</code><error><message>hashcode 不匹配</message><type>invalid_signature</type></error>',
    );
    const expected = { code: 401, error: { message: 'hashcode 不匹配', type: 'invalid_signature' } };
    expect(parseEnvelope(x)).toEqual(expected);
    expect(parseEnvelope(JSON.stringify(expected))).toEqual(expected);
  });

  it('sniffs the format when the content type says neither', () => {
    expect(parseEnvelope('{"code":200,"data":{}}', 'text/plain')).toEqual({ code: 200, data: {} });
    expect(parseEnvelope(xml('<code>200</code><data/>'), '')).toEqual({ code: 200, data: {} });
  });

  it('rejects bodies that are not envelopes', () => {
    expect(() => parseEnvelope('<html><body>Bad gateway</body></html>', 'text/html')).toThrow(
      EnvelopeParseError,
    );
    expect(() => parseEnvelope('{"code":"abc"}', 'application/json')).toThrow(EnvelopeParseError);
    expect(() => parseEnvelope('{"code":200}', 'application/json')).toThrow(EnvelopeParseError);
    expect(() => parseEnvelope('not json', 'application/json')).toThrow(EnvelopeParseError);
  });
});

describe('normaliseData', () => {
  it('turns an empty XML list element into an empty array', () => {
    const env = parseEnvelope(xml('<code>200</code><data><cities/></data>'));
    expect('data' in env && normaliseData('cities', env.data)).toEqual({ cities: [] });
    const env2 = parseEnvelope(xml('<code>200</code><data><cinemas></cinemas></data>'));
    expect('data' in env2 && normaliseData('cinemasByKind', env2.data)).toEqual({ cinemas: [] });
  });

  it('refuses a list interface answer without its list', () => {
    expect(() => normaliseData('regionsByCity', {})).toThrow(EnvelopeParseError);
    expect(() => normaliseData('kinds', { kinds: 'x' })).toThrow(EnvelopeParseError);
  });

  it('refuses a card interface answer without a card object', () => {
    expect(() => normaliseData('status', { card: '' })).toThrow(EnvelopeParseError);
    expect(normaliseData('status', { card: { card_no: '1' } })).toEqual({ card: { card_no: '1' } });
  });
});
