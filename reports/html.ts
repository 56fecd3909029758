/**
 * A self-contained HTML report page: the run's Markdown converted simply (headings, paragraphs,
 * block quotes, lists, tables, code, bold) and the charts embedded as PNG data: URIs. No external
 * resources, no scripts.
 */

export interface HtmlChart {
  name: string;
  title: string;
  png: Uint8Array;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);
}

/** Inline Markdown: `code` spans, then **bold** and *emphasis* in the text between them. */
export function inlineMarkdown(s: string): string {
  return s
    .split(/(`[^`]*`)/)
    .map((part, i) => {
      if (i % 2 === 1) return `<code>${escapeHtml(part.slice(1, -1))}</code>`;
      return escapeHtml(part)
        .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
        .replace(/(^|[^*\w])\*([^*\s](?:[^*]*[^*\s])?)\*(?!\w)/g, '$1<em>$2</em>');
    })
    .join('');
}

/** Cells of a Markdown table row; `\|` is a literal pipe. */
function tableCells(line: string): string[] {
  const body = line
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '');
  return body.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

const isTableSeparator = (line: string | undefined): boolean =>
  line !== undefined && /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line);

const IMAGE_LINE = /^\s*!\[([^\]]*)\]\(([^)\s]+)\)\s*$/;

/**
 * Converts the subset of Markdown the report renderers write into HTML. A line holding only an
 * image (`![alt](src)`) becomes `image(alt, src)`, or its alt text when that gives nothing: the
 * page never references other files.
 */
export function markdownToHtml(md: string, image?: (alt: string, src: string) => string | undefined): string {
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let i = 0;
  const at = (k: number): string => lines[k] ?? '';
  while (i < lines.length) {
    const line = at(i);
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = /^```/.exec(line);
    if (fence) {
      const code: string[] = [];
      for (i++; i < lines.length && !at(i).startsWith('```'); i++) code.push(at(i));
      i++;
      out.push(`<pre><code>${escapeHtml(code.join('\n'))}</code></pre>`);
      continue;
    }
    const img = IMAGE_LINE.exec(line);
    if (img) {
      out.push(image?.(img[1]!, img[2]!) ?? `<p><em>[${escapeHtml(img[1]!)}]</em></p>`);
      i++;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      const level = heading[1]!.length;
      out.push(`<h${level}>${inlineMarkdown(heading[2]!.trim())}</h${level}>`);
      i++;
      continue;
    }
    if (line.trimStart().startsWith('|') && isTableSeparator(lines[i + 1])) {
      const head = tableCells(line);
      const rows: string[][] = [];
      for (i += 2; i < lines.length && at(i).trimStart().startsWith('|'); i++) rows.push(tableCells(at(i)));
      out.push(
        '<table>',
        `<thead><tr>${cells('th', head)}</tr></thead>`,
        `<tbody>${rows.map((r) => `<tr>${cells('td', r)}</tr>`).join('\n')}</tbody>`,
        '</table>',
      );
      continue;
    }
    if (/^>\s?/.test(line)) {
      const quote: string[] = [];
      for (; i < lines.length && /^>\s?/.test(at(i)); i++) quote.push(at(i).replace(/^>\s?/, ''));
      out.push(`<blockquote>${markdownToHtml(quote.join('\n'), image)}</blockquote>`);
      continue;
    }
    if (/^\s*[-*]\s+/.test(line)) {
      const items: string[] = [];
      for (; i < lines.length && /^\s*[-*]\s+/.test(at(i)); i++) items.push(at(i).replace(/^\s*[-*]\s+/, ''));
      out.push(`<ul>${items.map((it) => `<li>${inlineMarkdown(it)}</li>`).join('')}</ul>`);
      continue;
    }
    const para: string[] = [line.trim()];
    for (
      i++;
      i < lines.length &&
      at(i).trim() !== '' &&
      !/^(#{1,6}\s|```|>|\s*[-*]\s+)/.test(at(i)) &&
      !IMAGE_LINE.test(at(i)) &&
      !(at(i).trimStart().startsWith('|') && isTableSeparator(lines[i + 1]));
      i++
    )
      para.push(at(i).trim());
    out.push(`<p>${inlineMarkdown(para.join(' '))}</p>`);
  }
  return out.join('\n');
}

export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
}

function cells(tag: 'th' | 'td', row: string[]): string {
  return row.map((c) => `<${tag}>${inlineMarkdown(c)}</${tag}>`).join('');
}

const CSS = `
body {
  font-family: "DejaVu Sans", system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem;
  color: #222; line-height: 1.45;
}
h1, h2, h3 { line-height: 1.2; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
code, pre { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 0.85em; background: #f5f5f5; }
pre { padding: 0.75rem; overflow-x: auto; }
blockquote { border-left: 4px solid #d9a400; margin: 1rem 0; padding: 0.25rem 1rem; background: #fff8e1; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #555; }
`.trim();

function figure(c: HtmlChart): string {
  return [
    `<figure id="${escapeHtml(c.name)}">`,
    `<img alt="${escapeHtml(c.title)}" src="${pngDataUri(c.png)}">`,
    `<figcaption>${escapeHtml(c.title)}</figcaption>`,
    '</figure>',
  ].join('\n');
}

/**
 * The report page: `markdownSections` converted to HTML, with every chart as an embedded PNG.
 * An image line in the Markdown whose file name is `<chart name>.png` (see chartsMarkdown) shows
 * that chart in place; the others follow in a closing "Charts" ("More charts") section. Self-contained:
 * inline CSS, data: URIs only, no scripts.
 */
export function renderHtml(title: string, markdownSections: string, charts: readonly HtmlChart[]): string {
  const byName = new Map(charts.map((c) => [c.name, c]));
  const placed = new Set<string>();
  const body = markdownToHtml(markdownSections, (_alt, src) => {
    const name = (src.split('/').pop() ?? '').replace(/\.(png|svg)$/i, '');
    const chart = byName.get(name);
    if (!chart) return undefined;
    placed.add(name);
    return figure(chart);
  });
  const rest = charts.filter((c) => !placed.has(c.name));
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>\n${CSS}\n</style>`,
    '</head>',
    '<body>',
    ...(/^\s*#\s/.test(markdownSections) ? [] : [`<h1>${escapeHtml(title)}</h1>`]),
    body,
    ...(rest.length > 0 ? [`<h2>${placed.size > 0 ? 'More charts' : 'Charts'}</h2>`, ...rest.map(figure)] : []),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Markdown image references for charts stored next to the Markdown (e.g. `charts/<name>.png`). */
export function chartsMarkdown(charts: readonly { name: string; title: string }[], dir = 'charts'): string {
  if (charts.length === 0) return '';
  return [
    '## Charts',
    '',
    ...charts.flatMap((c) => [`![${c.title.replace(/[[\]]/g, '')}](${dir}/${c.name}.png)`, '']),
  ].join('\n');
}

/** The stored Markdown: the report, then its one "Charts" section (none without charts). */
export function withCharts(markdown: string, charts: readonly { name: string; title: string }[]): string {
  const section = chartsMarkdown(charts);
  return section ? `${markdown}\n${section}` : markdown;
}
