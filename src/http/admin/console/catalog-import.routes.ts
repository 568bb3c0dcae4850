import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ImportReport } from '../../../domain/admin/catalog-import.service.js';
import { CINEMA_CSV_COLUMNS } from '../../../domain/admin/catalog-import.js';
import { uploadedFile } from '../body.js';
import { actorOf, type ConsoleContext } from './context.js';
import { isRefusal, refusalOf } from './format.js';
import { bodyOf, checked, type Fields, str } from './forms.js';
import { html, type Html } from './html.js';
import { csrfField, sendPage, table, textareaField } from './layout.js';
import { subnav } from './catalog-shared.js';
import { fieldLabel, sentenceFor } from './messages.zh.js';

/** CSV import of cinemas (with the cities and regions they name). */
export function importRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  const importPage = (
    request: FastifyRequest,
    reply: FastifyReply,
    values: Fields,
    report?: ImportReport,
    refused?: { status: number; error: string },
  ) => {
    const reportHtml = report ? importReport(report) : '';
    // After a clean dry run the form is ready for the real run; after a real run it is empty again.
    const csv = report?.applied ? '' : str(values, 'csv');
    const dryRun = report
      ? report.dryRun && report.errors.length > 0
      : !values.csv || checked(values, 'dry_run');
    return sendPage(request, reply, {
      title: 'CSV 导入影院',
      nav: 'catalog',
      status: refused?.status ?? (report && report.errors.length ? 400 : 200),
      error: refused?.error,
      body: html`${subnav('import')}${reportHtml}
        <form method="post" action="/admin/catalog/import" enctype="multipart/form-data" class="panel">
          ${csrfField(request)}
          <p>
            第一行为表头，须包含这些列（顺序不限）：<code>${CINEMA_CSV_COLUMNS.join(',')}</code>。
            城市、区域不存在时自动创建；影院按编号新建或更新。只要有一行出错，整个文件都不会导入。
          </p>
          <label class="field"
            ><span>上传 CSV 文件（UTF-8，最大 5 MiB）</span
            ><input type="file" name="file" accept=".csv,text/csv"
          /></label>
          ${textareaField({ label: '或粘贴 CSV 内容（选择了文件时以文件为准）', name: 'csv', id: 'csv', value: csv, rows: 14 })}
          <div class="actions">
            <label
              ><input type="checkbox" name="dry_run" value="1" ${dryRun ? html` checked` : ''} />
              仅试运行（只检查，不写入）</label
            >
            <button type="submit">提交</button>
          </div>
        </form>`,
    });
  };

  app.get('/admin/catalog/import', { preHandler: c.view.staff }, (request, reply) =>
    importPage(request, reply, {}),
  );

  // Multipart (the admin scope buffers it, files included): the file wins over the textarea.
  app.post('/admin/catalog/import', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    const file = uploadedFile(request.body, 'file');
    const fromFile = file && file.data.length > 0 ? decodeCsv(file.data) : null;
    if (fromFile === false) {
      return importPage(request, reply, f, undefined, {
        status: 400,
        error: '文件不是 UTF-8 编码的文本，请另存为 UTF-8 CSV 后再上传。',
      });
    }
    const csv = fromFile ?? str(f, 'csv');
    if (csv.trim() === '') {
      return importPage(request, reply, f, undefined, { status: 400, error: '请粘贴 CSV 内容或选择文件。' });
    }
    try {
      const report = await deps.catalog.importCinemas(actorOf(request), csv, {
        dryRun: checked(f, 'dry_run'),
        source: file ? `console:${file.filename.slice(0, 100)}` : 'console',
      });
      if (report.applied) await deps.afterRegistryChange();
      return importPage(request, reply, { ...f, csv }, report);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const r = refusalOf(err);
      return importPage(request, reply, f, undefined, { status: r.status, error: r.error });
    }
  });
}

/** The file's text (a BOM is fine); false when it is not UTF-8. */
function decodeCsv(data: Buffer): string | false {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return false;
  }
}

function importReport(r: ImportReport): Html {
  const verdict = r.errors.length
    ? html`<div class="error" role="alert">
        发现 ${r.errors.length} 个问题，没有导入任何数据。请修改后重新提交。
      </div>`
    : r.applied
      ? html`<div class="flash" role="status">导入完成。</div>`
      : r.dryRun
        ? html`<div class="notice" role="status">
            试运行通过，没有写入。取消勾选“仅试运行”后再次提交即可正式导入。
          </div>`
        : html`<div class="notice" role="status">没有需要变更的内容。</div>`;
  const stat = (k: string, v: number) =>
    html`<div class="stat">
      <div class="k">${k}</div>
      <div class="v">${v}</div>
    </div>`;
  return html`${verdict}
    <div class="stats">
      ${stat('数据行', r.rows)}${stat('新建影院', r.created)}${stat('更新影院', r.updated)}
      ${stat('未变化', r.unchanged)}${stat('新建城市', r.citiesCreated)}${stat('新建区域', r.regionsCreated)}
    </div>
    ${
      r.errors.length
        ? table(
            ['行', '列', '问题'],
            r.errors.map(
              (e) =>
                html`<tr>
                  <td class="num">${e.row}</td>
                  <td class="mono">${e.column}</td>
                  <td>${sentenceFor(e.id, e.params, `${fieldLabel(e.column)}的值不符合要求`)}</td>
                </tr>`,
            ),
          )
        : ''
    }`;
}
