import { describe, expect, it } from 'vitest';
import { hashcodeMatches, md5Hex, signedString } from './sign.js';

const KEY = 'e10adc3949ba59abbe56e057f20f883e';

describe('signatures', () => {
  it('reproduces the contract basic-mode vector', () => {
    const s = signedString(
      'basic',
      {
        partner_id: 'CS000001',
        sec_id: 'test',
        bus_id: '1002758',
        req_id: '2012010100000001',
        ver: '1000',
        timestamp: '20121225020202',
      },
      [],
      KEY,
    );
    expect(s).toBe('CS0000011002758201201010000000120121225020202e10adc3949ba59abbe56e057f20f883e');
    expect(md5Hex(s)).toBe('c2ea37696f3f4b09f911a8c6dab43264');
  });

  it('reproduces the contract full-mode payByCard vector, skipping the absent total_price', () => {
    const s = signedString(
      'full',
      {
        partner_id: 'CS000001',
        sec_id: 'test',
        bus_id: '1002758',
        req_id: '2012010100000002',
        ver: '1000',
        timestamp: '20121225020202',
        card_no: '6281234567890123',
        mobile: '13812345678',
      },
      ['card_no', 'mobile', 'total_price'],
      KEY,
    );
    expect(s).toBe(
      'CS000001test10027582012010100000002100020121225020202628123456789012313812345678e10adc3949ba59abbe56e057f20f883e',
    );
    expect(md5Hex(s)).toBe('7a27021fdd92e04520656f58003e4748');
  });

  it('compares hashcodes case-insensitively and rejects other lengths', () => {
    expect(hashcodeMatches('c2ea37696f3f4b09f911a8c6dab43264', 'C2EA37696F3F4B09F911A8C6DAB43264')).toBe(
      true,
    );
    expect(hashcodeMatches('c2ea37696f3f4b09f911a8c6dab43264', 'c2ea37696f3f4b09f911a8c6dab43265')).toBe(
      false,
    );
    expect(hashcodeMatches('c2ea37696f3f4b09f911a8c6dab43264', 'c2ea')).toBe(false);
  });
});
