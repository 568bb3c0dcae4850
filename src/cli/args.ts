import { InvalidArgumentError } from 'commander';

/** Option parsers shared by the commands. */

export const intArg =
  (min: number, max: number) =>
  (value: string): number => {
    if (!/^-?[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return Number(value);
  };

export const listArg = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function dateArg(value: string): string {
  if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(value))
    throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return value;
}
