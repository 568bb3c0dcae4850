import { describe, expect, it } from 'vitest';
import { XMLParser } from 'fast-xml-parser';
import { renderEnvelope } from './envelope.js';

describe('envelope renderer', () => {
  it('renders arrays as <item> lists, empty ones as self-closing elements', () => {
    const xml = renderEnvelope(
      { code: 200, data: { cities: [{ code_id: '001' }, { code_id: '002' }], none: [] } },
      'xml',
    );
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<response><code>200</code><data><cities><item><code_id>001</code_id></item><item><code_id>002</code_id></item></cities><none/></data></response>',
    );
  });

  it('escapes markup and drops characters XML cannot carry', () => {
    const xml = renderEnvelope(
      { code: 400, error: { message: 'bad <x> & "y" \u0000\u0007z', type: 'invalid_param' } },
      'xml',
    );
    expect(xml).toContain('<message>bad &lt;x&gt; &amp; &quot;y&quot; z</message>');
    const parsed = new XMLParser().parse(xml) as { response: { code: number; error: { type: string } } };
    expect(parsed.response.error.type).toBe('invalid_param');
  });

  it('renders JSON with string scalars and a numeric code', () => {
    expect(JSON.parse(renderEnvelope({ code: 200, data: { card: { count: '2' } } }, 'json'))).toEqual({
      code: 200,
      data: { card: { count: '2' } },
    });
  });
});
