import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

const read = (file: string) => fs.readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

/**
 * Every variable src/config.ts reads: the names loadConfig looks up in the environment it is given
 * (a recording proxy), plus every name the source spells out, so a variable read only under some
 * condition is not missed.
 */
function variablesConfigReads(): Set<string> {
  const names = new Set<string>();
  const env = new Proxy<Record<string, string | undefined>>(
    {},
    {
      get: (_target, key) => {
        if (typeof key === 'string') names.add(key);
        return undefined;
      },
      has: (_target, key) => {
        if (typeof key === 'string') names.add(key);
        return false;
      },
    },
  );
  loadConfig(env);
  const source = read('src/config.ts');
  for (const m of source.matchAll(
    /\benv\.([A-Z][A-Z0-9_]*)|\benv,\s*'([A-Z][A-Z0-9_]*)'|\b(MOVTICKET_[A-Z0-9_]+)/g,
  )) {
    names.add((m[1] ?? m[2] ?? m[3])!);
  }
  return names;
}

/** `NAME=value` and commented-out `#NAME=value` lines; prose comments start with `# `. */
function variablesListed(text: string): string[] {
  return [...text.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
}

describe('.env.example', () => {
  const listed = variablesListed(read('.env.example'));

  it('lists every variable src/config.ts reads, and nothing else', () => {
    const reads = variablesConfigReads();
    expect(reads.size).toBeGreaterThan(20);
    expect([...reads].filter((name) => !listed.includes(name)).sort(), 'read but not listed').toEqual([]);
    expect(listed.filter((name) => !reads.has(name)).sort(), 'listed but never read').toEqual([]);
  });

  it('lists each variable once, with its comment, commented out so that it changes no default', () => {
    expect(listed.filter((name, i) => listed.indexOf(name) !== i)).toEqual([]);
    const lines = read('.env.example').split('\n');
    for (const [i, line] of lines.entries()) {
      if (!/^#?[A-Z][A-Z0-9_]*=/.test(line)) continue;
      expect(line, 'commented out').toMatch(/^#/);
      // The variable's own comment sits right above it (or above the line it shares it with).
      const above = lines
        .slice(0, i)
        .reverse()
        .find((l) => !/^#?[A-Z][A-Z0-9_]*=/.test(l));
      expect(above, `comment above ${line}`).toMatch(/^# \S/);
    }
  });

  it('is described in the README configuration table', () => {
    const readme = read('README.md');
    const inTable = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)`/gm)].map((m) => m[1]!));
    expect(listed.filter((name) => !inTable.has(name)).sort()).toEqual([]);
  });
});
