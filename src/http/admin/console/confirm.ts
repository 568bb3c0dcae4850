import type { FastifyReply, FastifyRequest } from 'fastify';
import { bodyOf, str } from './forms.js';
import { html, type Html, type Interpolation } from './html.js';
import { csrfField, type NavKey, sendPage } from './layout.js';

/*
 * One way to confirm a destructive or money-affecting action, with no script: the action's form
 * posts as usual; without `confirmed=1` the handler answers this page instead of acting. The
 * page says what will happen and carries every field of the first post hidden, a fresh CSRF and
 * one-time token (the first post's token was spent on showing this page) and `confirmed=1`, so
 * 「确认…」 posts the same request again, confirmed; 「返回」 leaves without changing anything.
 * The JSON admin API is not affected: a machine confirms by calling.
 */

export const CONFIRM_FIELD = 'confirmed';

/** Fields a confirmation never copies: the spent tokens and the confirmation itself. */
const NOT_COPIED = new Set(['_csrf', '_once', CONFIRM_FIELD]);

/** Whether the post came from a confirmation page. */
export const isConfirmed = (request: FastifyRequest): boolean => str(bodyOf(request), CONFIRM_FIELD) === '1';

export interface Confirmation {
  /** The page's title: what is about to happen, e.g. 「停用渠道 CS000001」. */
  title: string;
  nav?: NavKey;
  /** The consequences, one sentence a line. */
  consequences: readonly Interpolation[];
  /** A warning shown above the consequences (e.g. a price far from the default). */
  warning?: Interpolation;
  /** The confirm button's text, starting with 确认. */
  confirmLabel: string;
  /** Where 「返回」 leads (the page the action was started from). */
  back: string;
  /** Fields the person fills on the confirmation page (e.g. a reason). */
  extra?: Html;
  /** Where the confirmed form posts; the first post's URL when absent. */
  action?: string;
  /** A refusal of the confirmed post, shown above the form. */
  error?: string;
  status?: number;
  /** Dangerous (red button) unless false. */
  danger?: boolean;
}

/** Every field of the first post as hidden inputs (repeated fields repeated). */
function hiddenCopy(request: FastifyRequest): Html[] {
  const out: Html[] = [];
  for (const [name, value] of Object.entries(bodyOf(request))) {
    if (NOT_COPIED.has(name) || (extraNames.get(request)?.has(name) ?? false)) continue;
    for (const v of [value].flat()) {
      if (typeof v === 'string') out.push(html`<input type="hidden" name="${name}" value="${v}" />`);
    }
  }
  return out;
}

/** Names of the fields the confirmation page asks for itself (not copied hidden). */
const extraNames = new WeakMap<FastifyRequest, Set<string>>();

/** Answers the confirmation page for the post `request` (status 200, nothing changed). */
export function sendConfirmation(
  request: FastifyRequest,
  reply: FastifyReply,
  c: Confirmation,
): FastifyReply {
  if (c.extra) {
    const names = new Set([...c.extra.value.matchAll(/\sname="([^"]+)"/g)].map((m) => m[1]!));
    extraNames.set(request, names);
  }
  const action = c.action ?? request.url.split('?')[0]!;
  return sendPage(request, reply, {
    title: `确认${c.title}`,
    nav: c.nav,
    status: c.status,
    error: c.error,
    body: html`${c.warning ? html`<div class="warn" role="alert">${c.warning}</div>` : ''}
      <div class="panel confirm">
        <p>请确认以下操作的后果：</p>
        <ul>
          ${c.consequences.map((line) => html`<li>${line}</li>`)}
        </ul>
      </div>
      <form method="post" action="${action}" class="panel">
        ${csrfField(request)}${hiddenCopy(request)}
        <input type="hidden" name="${CONFIRM_FIELD}" value="1" />
        ${c.extra ?? ''}
        <div class="actions">
          <button type="submit" class="${c.danger === false ? '' : 'danger'}">${c.confirmLabel}</button>
          <a class="button secondary" href="${c.back}">返回</a>
        </div>
      </form>`,
  });
}
