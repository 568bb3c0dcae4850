import { randomBytes, randomInt } from 'node:crypto';

/** Luhn check digit for a string of digits. */
export function luhnCheckDigit(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

export function isLuhnValid(digits: string): boolean {
  return /^[0-9]{2,}$/.test(digits) && luhnCheckDigit(digits.slice(0, -1)) === Number(digits.at(-1));
}

/** A random 16-digit card number (CSPRNG), first digit 1-9, last digit a Luhn check digit. */
export function generateCardNo(): string {
  let body = String(randomInt(1, 10));
  for (let i = 0; i < 14; i++) body += String(randomInt(0, 10));
  return body + String(luhnCheckDigit(body));
}

/** A random 8-digit card password (CSPRNG). */
export function generatePassword(): string {
  return String(randomInt(0, 100_000_000)).padStart(8, '0');
}

/** A fresh md5key: 32 lower-case hex digits from the CSPRNG. */
export function generateMd5Key(): string {
  return randomBytes(16).toString('hex');
}
