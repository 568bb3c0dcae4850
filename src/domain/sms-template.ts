import { isSealed, type SecretBox } from './secret-box.js';

/** Fills `{name}` placeholders; unknown placeholders are left as they are. */
export function renderSmsText(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-z_]+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** `13812345678` → `138****5678`. */
export function maskMobile(mobile: string | null | undefined): string {
  if (!mobile) return '';
  return mobile.length >= 7 ? `${mobile.slice(0, 3)}****${mobile.slice(-4)}` : '****';
}

/** What a stored SMS shows instead of the card's password once it is delivered or failed for good. */
export const PASSWORD_MASK = '******';

/**
 * The stored form of a queued SMS: the text to send, the text to keep once it is settled
 * (password masked) and the template's values (what a provider's approved template is filled
 * with), sealed together so the row holds no readable password.
 */
export function sealSmsText(
  box: SecretBox,
  text: string,
  masked: string,
  params?: Readonly<Record<string, string>>,
): string {
  return box.seal(JSON.stringify(params ? { text, masked, params } : { text, masked }));
}

export interface OpenedSmsText {
  text: string;
  masked: string;
  /** Absent for messages queued before the values were kept. */
  params?: Record<string, string>;
}

/** Opens a stored SMS text; a plain one (masked, or from before sealing) is both at once. */
export function openSmsText(box: SecretBox, stored: string): OpenedSmsText {
  if (!isSealed(stored)) return { text: stored, masked: stored };
  const v = JSON.parse(box.open(stored)) as { text?: unknown; masked?: unknown; params?: unknown };
  if (typeof v.text !== 'string' || typeof v.masked !== 'string')
    throw new Error('malformed sealed SMS text');
  const params =
    v.params !== null &&
    typeof v.params === 'object' &&
    Object.values(v.params).every((x) => typeof x === 'string')
      ? (v.params as Record<string, string>)
      : undefined;
  return { text: v.text, masked: v.masked, ...(params ? { params } : {}) };
}
