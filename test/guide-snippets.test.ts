import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMON_PARAMS, md5Hex, signedString } from '../src/domain/sign.js';
import { goEnv, type LanguageName, missingToolchain, run } from './support/toolchains.js';

// The signing snippets of section 5.4 of both guides, marked `<!-- sign-snippet: LANG -->`, are
// run as a channel developer would paste them, against the guide's own worked examples (5.3):
// a snippet that computes another hashcode fails here.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GUIDES = ['channel-guide.zh.md', 'channel-guide.en.md'];
const LANGUAGES: LanguageName[] = ['java', 'python', 'php', 'go'];

interface Vector {
  mode: 'basic' | 'full';
  params: [string, string][];
  md5key: string;
  hashcode: string;
}

function section(markdown: string, from: string, to: string): string {
  const start = markdown.indexOf(`\n${from}`);
  const end = markdown.indexOf(`\n${to}`, start + 1);
  if (start < 0 || end < 0) throw new Error(`no section ${from}`);
  return markdown.slice(start, end);
}

/** The worked examples of 5.3: each bold `basic`/`full` heading and the table under it. */
function vectorsOf(markdown: string): Vector[] {
  const vectors: Vector[] = [];
  let current: Vector | undefined;
  for (const line of section(markdown, '### 5.3', '### 5.4').split('\n')) {
    const heading = /^\*\*`(basic|full)`/.exec(line);
    if (heading) {
      current = { mode: heading[1] as Vector['mode'], params: [], md5key: '', hashcode: '' };
      vectors.push(current);
      continue;
    }
    if (!current || !line.startsWith('|')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const name = /^`([a-z_0-9]+)`$/.exec(cells.at(-2) ?? '')?.[1];
    const value = /^`(.+)`$/.exec(cells.at(-1) ?? '')?.[1];
    if (!name || value === undefined) continue; // headers, rules, signed strings, absent parameters
    if (name === 'md5key') current.md5key = value;
    else if (name === 'hashcode') current.hashcode = value;
    else current.params.push([name, value]);
  }
  return vectors;
}

/** The fenced code block under each `<!-- sign-snippet: LANG -->` marker of 5.4. */
function snippetsOf(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  const found = section(markdown, '### 5.4', '## 6.').matchAll(
    /<!-- sign-snippet: (\w+) -->\n+```\w*\n([\s\S]*?)\n```/g,
  );
  for (const [, lang, code] of found) out.set(lang!, code!);
  return out;
}

/** A string literal that Java, Go and PHP (in double quotes, no `$`) read like JSON. */
const lit = (s: string) => {
  if (s.includes('$')) throw new Error('no $ in test vectors');
  return JSON.stringify(s);
};

/** Writes the snippet and a driver printing one hashcode per vector; returns how to run it. */
async function prepare(lang: LanguageName, code: string, vectors: Vector[], dir: string) {
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);
  switch (lang) {
    case 'python': {
      write('sign_snippet.py', `${code}\n`);
      write(
        'driver.py',
        'import json, sys\nfrom sign_snippet import hashcode\n' +
          'for v in json.loads(sys.argv[1]):\n' +
          '    print(hashcode(v["mode"], [tuple(p) for p in v["params"]], v["md5key"]))\n',
      );
      return { cmd: 'python3', args: ['driver.py', JSON.stringify(vectors)], env: undefined };
    }
    case 'php': {
      write('snippet.php', `${code}\n`);
      const calls = vectors.map(
        (v) =>
          `echo movticket_hashcode(${lit(v.mode)}, [${v.params.map(([n, x]) => `[${lit(n)}, ${lit(x)}]`).join(', ')}], ${lit(v.md5key)}), "\\n";`,
      );
      write('driver.php', `<?php\nrequire __DIR__ . '/snippet.php';\n${calls.join('\n')}\n`);
      return { cmd: 'php', args: ['driver.php'], env: undefined };
    }
    case 'java': {
      write('MovTicketSign.java', `${code}\n`);
      const calls = vectors.map(
        (v) =>
          `    System.out.println(MovTicketSign.hashcode(${lit(v.mode)}, List.of(${v.params.map(([n, x]) => `Map.entry(${lit(n)}, ${lit(x)})`).join(', ')}), ${lit(v.md5key)}));`,
      );
      write(
        'Driver.java',
        `import java.util.List;\nimport java.util.Map;\n\npublic final class Driver {\n  public static void main(String[] args) throws Exception {\n${calls.join('\n')}\n  }\n}\n`,
      );
      const javac = await run(
        'javac',
        [
          '-encoding',
          'UTF-8',
          '-d',
          dir,
          path.join(dir, 'MovTicketSign.java'),
          path.join(dir, 'Driver.java'),
        ],
        { cwd: dir, timeoutMs: 300_000 },
      );
      expect(javac, javac.stderr).toMatchObject({ code: 0 });
      return { cmd: 'java', args: ['-cp', dir, 'Driver'], env: undefined };
    }
    case 'go': {
      // The snippet is a package of its own; its driver is that package's main.
      write('go.mod', 'module example.com/signsnippet\n\ngo 1.19\n');
      write('sign.go', `${code.replace(/^package \w+$/m, 'package main')}\n`);
      const calls = vectors.map(
        (v) =>
          `\tfmt.Println(Hashcode(${lit(v.mode)}, []Param{${v.params.map(([n, x]) => `{Name: ${lit(n)}, Value: ${lit(x)}}`).join(', ')}}, ${lit(v.md5key)}))`,
      );
      write('main.go', `package main\n\nimport "fmt"\n\nfunc main() {\n${calls.join('\n')}\n}\n`);
      const bin = path.join(dir, 'sign-snippet');
      const build = await run('go', ['build', '-o', bin, '.'], {
        cwd: dir,
        env: goEnv(),
        timeoutMs: 300_000,
      });
      expect(build, build.stderr).toMatchObject({ code: 0 });
      return { cmd: bin, args: [], env: undefined };
    }
  }
}

const MISSING = new Map(LANGUAGES.map((lang) => [lang, missingToolchain(lang)]));
for (const [lang, missing] of MISSING) {
  if (missing) console.warn(`[guide snippets] ${lang} SKIPPED: ${missing}`);
}

describe('signing snippets in the guides (section 5.4)', { timeout: 300_000 }, () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-snippets-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const guide of GUIDES) {
    const markdown = fs.readFileSync(path.join(ROOT, 'docs', guide), 'utf8');
    const vectors = vectorsOf(markdown);
    const snippets = snippetsOf(markdown);

    it(`${guide} has a basic and two full worked examples and a snippet for each language`, () => {
      expect(vectors.map((v) => v.mode)).toEqual(['basic', 'full', 'full']);
      for (const v of vectors) {
        expect(v.md5key).toMatch(/^[0-9a-f]{32}$/);
        expect(v.hashcode).toMatch(/^[0-9a-f]{32}$/);
      }
      // The basic example lists only the four signed values; the full ones all eight.
      expect(vectors[0]!.params.map(([n]) => n)).toEqual(['partner_id', 'bus_id', 'req_id', 'timestamp']);
      expect(vectors[1]!.params).toHaveLength(8);
      expect([...snippets.keys()].sort()).toEqual([...LANGUAGES].sort());
    });

    it(`${guide}: the platform's own signing agrees with every worked example`, () => {
      for (const v of vectors) {
        const params = Object.fromEntries(v.params);
        const own = v.params.map(([n]) => n).filter((n) => !(COMMON_PARAMS as readonly string[]).includes(n));
        expect(md5Hex(signedString(v.mode, params, own, v.md5key))).toBe(v.hashcode);
      }
    });

    for (const lang of LANGUAGES) {
      const missing = MISSING.get(lang);
      it.skipIf(missing !== undefined)(
        `${guide}: the ${lang} snippet computes the hashcode of every worked example`,
        async () => {
          const code = snippets.get(lang);
          expect(code, `no ${lang} snippet`).toBeDefined();
          const where = path.join(dir, `${guide}-${lang}`);
          const cmd = await prepare(lang, code!, vectors, where);
          const r = await run(cmd.cmd, cmd.args, { cwd: where, env: cmd.env, timeoutMs: 120_000 });
          expect(r, r.stderr).toMatchObject({ code: 0 });
          expect(r.stdout.trim().split('\n')).toEqual(vectors.map((v) => v.hashcode));
        },
      );
    }
  }
});
