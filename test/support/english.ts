/**
 * Finding English sentences a console user would read. "English sentence": three or more
 * consecutive words of ASCII letters separated by spaces, in the page's visible text or in the
 * attributes a person sees (placeholder, title, aria-label, alt, button values). Not counted:
 * `<code>`, `<pre>`, `<kbd>`, `<script>`, `<style>` and elements of class `mono` (identifiers,
 * card numbers, keys, signed request text — machine fields shown as they are), and the few product
 * terms in ALLOWED below.
 */

/**
 * Phrases allowed although they are three ASCII words: product and protocol names a Chinese
 * operator uses as they are. Keep this list small; each entry is a name, not a sentence. Empty
 * today: single terms (API, CSV, IP, SMS, sec_id, req_id, md5key) never make three words, and
 * identifiers, codes and keys are shown in `<code>` or `.mono`, which are not read.
 */
const ALLOWED: readonly RegExp[] = [];

const WORDS = /[A-Za-z]+(?: +[A-Za-z]+){2,}/g;

/** The visible text of an HTML page (and the human-read attributes), minus machine fields. */
export function visibleText(body: string): string {
  let s = body;
  for (const tag of ['script', 'style', 'code', 'pre', 'kbd', 'textarea']) {
    s = s.replace(new RegExp(`<${tag}\\b[^>]*>[\\s\\S]*?</${tag}>`, 'gi'), ' ');
  }
  s = stripMono(s);
  const attrs = [...s.matchAll(/\s(?:placeholder|title|aria-label|alt)="([^"]*)"/g)].map((m) => m[1]);
  const buttons = [...s.matchAll(/<input[^>]*type="(?:submit|button)"[^>]*value="([^"]*)"/g)].map(
    (m) => m[1],
  );
  const text = s.replace(/<[^>]*>/g, ' ');
  return decode([text, ...attrs, ...buttons].join(' | ')).replace(/\s+/g, ' ');
}

/** Removes elements whose class list has `mono` (innermost first, so nesting works). */
function stripMono(html: string): string {
  const open = /<([a-z0-9]+)\b[^>]*\bclass="[^"]*\bmono\b[^"]*"[^>]*>/i;
  let s = html;
  for (let guard = 0; guard < 100_000; guard++) {
    const m = open.exec(s);
    if (!m) return s;
    const tag = m[1]!.toLowerCase();
    const start = m.index;
    if (/\/>$/.test(m[0]) || ['input', 'img', 'br'].includes(tag)) {
      s = s.slice(0, start) + s.slice(start + m[0].length);
      continue;
    }
    // Find the matching close tag, counting nested tags of the same name.
    const re = new RegExp(`<(/?)${tag}\\b[^>]*>`, 'gi');
    re.lastIndex = start + m[0].length;
    let depth = 1;
    let end = s.length;
    for (let t = re.exec(s); t; t = re.exec(s)) {
      depth += t[1] ? -1 : 1;
      if (depth === 0) {
        end = t.index + t[0].length;
        break;
      }
    }
    s = `${s.slice(0, start)} ${s.slice(end)}`;
  }
  return s;
}

function decode(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The English sentences in a text (see the file comment). */
export function englishSentences(text: string): string[] {
  return [...text.matchAll(WORDS)].map((m) => m[0]).filter((p) => !ALLOWED.some((a) => a.test(p)));
}
