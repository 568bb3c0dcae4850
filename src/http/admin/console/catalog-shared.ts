import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogView } from '../../../domain/admin/catalog-views.js';
import type { ConsoleContext } from './context.js';
import type { AppError } from '../../../errors.js';
import { allRefusals, isRefusal, refusalOf } from './format.js';
import { bodyOf, type Fields, str } from './forms.js';
import { html, type Html } from './html.js';
import { badge, postButton, redirectOk, sendPage } from './layout.js';

type Section = 'cinemas' | 'kinds' | 'cities' | 'regions' | 'import';

const SECTIONS: { key: Section; path: string; label: string }[] = [
  { key: 'cinemas', path: '/admin/catalog', label: '影院' },
  { key: 'kinds', path: '/admin/catalog/kinds', label: '券种' },
  { key: 'cities', path: '/admin/catalog/cities', label: '城市' },
  { key: 'regions', path: '/admin/catalog/regions', label: '区域' },
  { key: 'import', path: '/admin/catalog/import', label: 'CSV 导入' },
];

export interface Refused {
  status: number;
  error: string;
  values: Fields;
  fields: Record<string, string>;
}

export const subnav = (on: Section) =>
  html`<nav class="subnav">
    ${SECTIONS.map((s) => html`<a href="${s.path}" class="${s.key === on ? 'on' : ''}">${s.label}</a>`)}
  </nav>`;

export const activeBadge = (active: boolean) => (active ? badge('启用', 'green') : badge('停用', 'red'));

export type Id = { Params: { id: string } };

/** The catalog's page frame (section tabs) and its change runner, for the section modules. */
export function catalogHelpers(c: ConsoleContext) {
  const { deps } = c;
  const page = (
    request: FastifyRequest,
    reply: FastifyReply,
    section: Section,
    title: string,
    body: Html,
    refused?: Refused,
  ) =>
    sendPage(request, reply, {
      title,
      nav: 'catalog',
      status: refused?.status,
      error: refused?.error,
      body: html`${subnav(section)}${body}`,
    });

  /**
   * Runs a change: redirect with a flash, or `again` renders the form with the refusal. `check`
   * gives every refusal of the form's input (see catalog-checks.ts), all shown at once beside
   * their fields before anything is written.
   */
  const change = async (
    request: FastifyRequest,
    reply: FastifyReply,
    fn: (f: Fields) => Promise<unknown>,
    done: string,
    ok: string,
    again: (r: Refused) => Promise<unknown> | unknown,
    check?: (f: Fields) => readonly AppError[],
  ) => {
    const f = bodyOf(request);
    const refusals = check?.(f) ?? [];
    if (refusals.length) return again({ ...allRefusals(refusals), values: f });
    try {
      await fn(f);
      await deps.afterRegistryChange();
      return redirectOk(reply, done, ok);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const r = refusalOf(err);
      return again({ status: r.status, error: r.error, values: f, fields: r.fields });
    }
  };
  return { page, change };
}

export function activeButton(
  request: FastifyRequest,
  action: string,
  active: boolean,
  backTo?: string,
): Html {
  return postButton(request, action, active ? '停用' : '启用', {
    hidden: { active: active ? '0' : '1', ...(backTo ? { back: backTo } : {}) },
    className: active ? 'small secondary' : 'small',
  });
}

/** Where an activate/deactivate button returns to: a catalog page only. */
export function back(request: FastifyRequest, fallback: string): string {
  const to = str(bodyOf(request), 'back');
  return /^\/admin\/catalog(\/[A-Za-z0-9_%-]+)*$/.test(to) ? to : fallback;
}

export function placeNames(cat: CatalogView) {
  const cities = new Map(cat.cities.map((x) => [x.codeId, x.name]));
  const regions = new Map(cat.regions.map((x) => [x.codeId, x.name]));
  return { city: (id: string) => cities.get(id) ?? id, region: (id: string) => regions.get(id) ?? id };
}
