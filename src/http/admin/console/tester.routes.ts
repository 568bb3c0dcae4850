import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  computeHashcode,
  formatTimestamp,
  orderParams,
  randomReqId,
  type SignField,
  signingString,
  type SignMode,
} from '../../../client/index.js';
import type { KeyView, PartnerSummary } from '../../../domain/admin/partner-views.js';
import { INTERFACE_NAMES, INTERFACES } from '../../partner/interfaces.js';
import { actorOf, type ConsoleContext, userOf } from './context.js';
import { INTERFACE_LABEL } from './format.js';
import { bodyOf, type Fields, queryOf, str } from './forms.js';
import { html, type Html } from './html.js';
import { csrfField, field, selectField, sendPage, table } from './layout.js';

/*
 * The API tester signs a request for a partner and sends it through `fastify.inject` to
 * /movTicket/<interface>, so it works offline and exercises the real partner API.
 *
 * The md5key: anyone may paste it (it is used for this one request, never stored, logged or sent
 * back in the page). An admin may instead have the server sign with the stored key: admins
 * manage keys anyway (they can create one at will), so this gives them no new power, and it
 * spares a secret being copied around. Operators, who may not see keys, must paste one.
 */

interface Sent {
  fields: SignField[];
  body: string;
  signed: string;
  status: number;
  contentType: string;
  response: string;
  ms: number;
}

const MASK = '‹md5key›';

/** The partner API's parameter rules (src/http/partner/interfaces.ts), as the form's hints. */
const RULE_ZH: Record<string, string> = {
  'must be 1-100 printable characters': '1–100 个可打印字符',
  'must be 1-20 letters or digits': '1–20 位字母或数字',
  'must be 1-32 letters, digits or _': '1–32 位字母、数字或 _',
  'must be 1-32 letters, digits, _ or -': '1–32 位字母、数字、_ 或 -',
  'must be 1-7 digits': '1–7 位数字',
  'must be 16 digits': '16 位数字',
  'must be 2 upper-case letters and 6 digits, e.g. CS000001': '2 个大写字母加 6 位数字，如 CS000001',
  'must be 32 hex digits': '32 位十六进制数字',
  'must be 4 digits, e.g. 1000': '4 位数字，如 1000',
  'must be YmdHis (14 digits) or 16 digits': 'YmdHis（14 位数字）或 16 位数字',
  'must be a 3-digit city code_id': '3 位城市编号',
  'must be an 11-digit mainland mobile number': '11 位大陆手机号码',
  'must be an amount in yuan such as 35.00': '金额（元），如 35.00',
  'must be an integer from 1 to 50': '1 到 50 的整数',
};

/** A rule the catalogue above misses is shown as it is (the tester's test finds it). */
const ruleZh = (rule: string) => RULE_ZH[rule] ?? rule;

export function testerRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  const render = async (
    request: FastifyRequest,
    reply: FastifyReply,
    values: Fields,
    result?: { sent?: Sent; status?: number; error?: string },
  ) => {
    const by = actorOf(request);
    const isAdmin = userOf(request).role === 'admin';
    const partners = await deps.partners.list(by);
    const partnerId = str(values, 'partner');
    const iface = INTERFACES.has(str(values, 'iface')) ? str(values, 'iface') : '';
    const partner = partners.find((p) => p.partnerId === partnerId);
    const keys = partner && isAdmin ? ((await deps.partners.show(by, partner.partnerId)).keys ?? []) : [];

    const pick = html`<form method="get" action="/admin/tester" class="panel">
      <div class="form-grid">
        ${selectField({ label: '渠道', name: 'partner', value: partnerId, required: true, options: [{ value: '', label: '请选择渠道' }, ...partners.map((p) => ({ value: p.partnerId, label: `${p.partnerId} ${p.name}` }))] })}
        ${selectField({ label: '接口', name: 'iface', value: iface, required: true, options: [{ value: '', label: '请选择接口' }, ...INTERFACE_NAMES.map((n) => ({ value: n, label: `${n}（${INTERFACE_LABEL[n] ?? ''}）` }))] })}
        <div><button type="submit" class="secondary">下一步：填写参数</button></div>
      </div>
    </form>`;

    const form = partner && iface ? paramsForm(request, partner, iface, keys, isAdmin, values) : html``;
    return sendPage(request, reply, {
      title: '接口调试',
      nav: 'tester',
      status: result?.status,
      error: result?.error,
      body: html`<div class="warn">
          请求会真实执行（如购买、支付、作废会真的发生），并记入该渠道的请求记录。
        </div>
        ${pick}${form}${result?.sent ? sentView(result.sent) : ''}`,
    });
  };

  app.get('/admin/tester', { preHandler: c.view.staff }, (request, reply) =>
    render(request, reply, queryOf(request)),
  );

  app.post('/admin/tester', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    const iface = str(f, 'iface');
    const def = INTERFACES.get(iface);
    const partnerId = str(f, 'partner');
    const partner = (await deps.partners.list(actorOf(request))).find((p) => p.partnerId === partnerId);
    if (!def || !partner) return render(request, reply, f, { status: 400, error: '请选择渠道和接口。' });
    const secId = str(f, 'sec_id').trim();

    let md5key: string;
    let mode: SignMode;
    if (str(f, 'key_source') === 'stored') {
      if (userOf(request).role !== 'admin') {
        return render(request, reply, f, {
          status: 403,
          error: '只有管理员可以使用已保存的密钥签名；请粘贴 md5key。',
        });
      }
      const snap = await deps.registry.current();
      const config = snap.partners.get(partner.partnerId)?.securityConfigs.get(secId);
      if (!config)
        return render(request, reply, f, {
          status: 400,
          error: `渠道 ${partner.partnerId} 没有有效的 sec_id ${secId}。`,
        });
      md5key = config.md5key;
      mode = config.signMode;
    } else {
      md5key = str(f, 'md5key').trim();
      mode = str(f, 'sign_mode') === 'full' ? 'full' : 'basic';
      if (!md5key)
        return render(request, reply, f, {
          status: 400,
          error: '请粘贴 md5key，或（管理员）选择使用已保存的密钥。',
        });
    }

    const own: Record<string, string> = {};
    for (const p of def.params) {
      const v = str(f, `p_${p.name}`).trim();
      if (v !== '') own[p.name] = v;
    }
    const common = {
      partner_id: partner.partnerId,
      sec_id: secId,
      bus_id: partner.busId,
      req_id: str(f, 'req_id').trim() || randomReqId(),
      ver: '1000',
      timestamp: formatTimestamp(new Date(deps.clock.now()), c.tz),
    };
    const format = str(f, 'format') === 'xml' ? 'xml' : 'json';
    const { signed, unsigned } = orderParams(iface, common, own);
    const fields = [
      ...signed,
      ...unsigned,
      { name: 'hashcode', value: computeHashcode(mode, signed, md5key) },
      { name: 'format', value: format },
    ];
    const body = new URLSearchParams(fields.map((x): [string, string] => [x.name, x.value])).toString();
    request.log.info(
      {
        partner_id: partner.partnerId,
        sec_id: secId,
        interface: iface,
        by: userOf(request).username,
        key: str(f, 'key_source') || 'pasted',
      },
      'console api tester request',
    );
    const started = performance.now();
    const res = await c.app.inject({
      method: 'POST',
      url: `/movTicket/${iface}`,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: format === 'json' ? 'application/json' : 'application/xml',
      },
      payload: body,
    });
    const sent: Sent = {
      fields,
      body,
      // The key itself never reaches the page.
      signed: signingString(mode, signed, '') + MASK,
      status: res.statusCode,
      contentType: String(res.headers['content-type'] ?? ''),
      response: res.body,
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
    // The form comes back with the same choices but without the md5key, and with a fresh req_id.
    return render(request, reply, { ...f, md5key: '', req_id: '' }, { sent });
  });
}

function paramsForm(
  request: FastifyRequest,
  partner: PartnerSummary,
  iface: string,
  keys: readonly KeyView[],
  isAdmin: boolean,
  values: Fields,
): Html {
  const def = INTERFACES.get(iface)!;
  const active = keys.filter((k) => k.status === 'active');
  const source = str(values, 'key_source') || (isAdmin && active.length ? 'stored' : 'pasted');
  const secIdInput =
    isAdmin && active.length
      ? selectField({
          label: 'sec_id',
          name: 'sec_id',
          value: str(values, 'sec_id'),
          options: active.map((k) => ({ value: k.secId, label: `${k.secId}（${k.signMode}）` })),
        })
      : field({ label: 'sec_id', name: 'sec_id', value: str(values, 'sec_id'), required: true });
  const granted = partner.permissions.includes(iface);
  return html`<form method="post" action="/admin/tester" class="panel" autocomplete="off">
    ${csrfField(request)} <input type="hidden" name="partner" value="${partner.partnerId}" /><input
      type="hidden"
      name="iface"
      value="${iface}"
    />
    <h2 style="margin-top:0">
      ${partner.partnerId} → <span class="mono">${iface}</span>（${INTERFACE_LABEL[iface] ?? ''}）
    </h2>
    ${granted ? '' : html`<div class="notice">该渠道没有 ${iface} 的权限，请求会被拒绝（可用于验证权限设置）。</div>`}
    ${partner.status === 'active' ? '' : html`<div class="notice">该渠道已暂停，请求会被拒绝。</div>`}
    <h3>签名</h3>
    <div class="form-grid">
      ${secIdInput}
      ${
        isAdmin
          ? html`<div class="field">
              <span>密钥来源</span>
              <label
                ><input
                  type="radio"
                  name="key_source"
                  value="stored"
                  ${source === 'stored' ? html` checked` : ''}${active.length ? '' : html` disabled`}
                />
                使用已保存的密钥（服务器端签名）</label
              >
              <label
                ><input
                  type="radio"
                  name="key_source"
                  value="pasted"
                  ${source !== 'stored' ? html` checked` : ''}
                />
                粘贴 md5key</label
              >
            </div>`
          : html`<input type="hidden" name="key_source" value="pasted" />`
      }
      ${field({ label: 'md5key（粘贴时填写）', name: 'md5key', type: 'password', value: '', autocomplete: 'off', hint: '只用于本次请求，不保存、不记录日志' })}
      ${selectField({
        label: '签名方式（粘贴时）',
        name: 'sign_mode',
        value: str(values, 'sign_mode') || 'basic',
        options: [
          { value: 'basic', label: 'basic' },
          { value: 'full', label: 'full' },
        ],
      })}
    </div>
    <h3>参数</h3>
    <div class="form-grid">
      ${def.params.length === 0 ? html`<p class="muted">此接口没有业务参数。</p>` : ''}
      ${def.params.map((p) => field({ label: `${p.name}${p.optional ? '（可选）' : ''}`, name: `p_${p.name}`, value: str(values, `p_${p.name}`), hint: ruleZh(p.rule) }))}
      ${field({ label: 'req_id', name: 'req_id', value: str(values, 'req_id'), hint: '留空自动生成；重复使用可测试幂等' })}
      ${selectField({
        label: '响应格式',
        name: 'format',
        value: str(values, 'format') || 'json',
        options: [
          { value: 'json', label: 'JSON' },
          { value: 'xml', label: 'XML' },
        ],
      })}
    </div>
    <div class="actions"><button type="submit">签名并发送</button></div>
  </form>`;
}

function sentView(s: Sent): Html {
  return html`<h2>请求</h2>
    ${table(
      ['参数', '值'],
      s.fields.map(
        (f) =>
          html`<tr>
            <td class="mono">${f.name}</td>
            <td class="mono">${f.value}</td>
          </tr>`,
      ),
    )}
    <div class="panel">
      <h3 style="margin-top:0">签名串（md5 前，密钥已遮盖）</h3>
      <pre>${s.signed}</pre>
      <h3>表单正文</h3>
      <pre>${s.body}</pre>
    </div>
    <h2>响应</h2>
    <div class="panel">
      <p>HTTP <strong>${s.status}</strong> · <span class="mono">${s.contentType}</span> · ${s.ms} ms</p>
      <pre>${s.response}</pre>
    </div>`;
}
