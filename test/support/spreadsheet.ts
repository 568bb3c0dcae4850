/**
 * A CSV read the way Excel and LibreOffice Calc open it by double-click: RFC 4180 fields, then
 * each cell typed — `="…"` is a text formula and shows its text; a cell that looks like a number
 * becomes an IEEE double kept to 15 significant digits (so a 16-digit card number loses its last
 * digit, and leading zeros go); anything else stays text. Dates are left as text here (a
 * spreadsheet would make them date serials; nothing in these tests depends on that).
 */
export function readCsvAsSpreadsheet(csv: string): (string | number)[][] {
  return parseCsv(csv.replace(/^\uFEFF/, '')).map((row) => row.map(typeCell));
}

function typeCell(cell: string): string | number {
  const formula = /^="(.*)"$/s.exec(cell);
  if (formula) return formula[1]!;
  if (/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(cell.trim())) return Number(Number(cell).toPrecision(15));
  return cell;
}

/** RFC 4180: quoted fields may hold commas, quotes ("") and line breaks; CRLF or LF rows. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
