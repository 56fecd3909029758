/** Stores a run report: JSON, Markdown with a charts section, a self-contained HTML page, and each chart as PNG + SVG. */
import type { ArtifactStore } from '../storage/artifact-store';
import { putJson } from '../storage/artifact-store';
import { chartsMarkdown, renderCharts, renderHtml } from '../reports';
import type { ChartInputs } from '../reports';
import { keys } from './artifacts';

export interface StoredReport {
  json: string;
  markdown: string;
  html: string;
  /** PNG keys, one per chart (an SVG with the same name sits beside each). */
  charts: string[];
}

export async function storeReport(store: ArtifactStore, workflowId: string, report: unknown, markdown: string, chartInputs: ChartInputs): Promise<StoredReport> {
  const dir = keys.run(workflowId);
  const json = await putJson(store, `${dir}/report.json`, report);
  const charts = await renderCharts(chartInputs);
  const chartKeys: string[] = [];
  for (const c of charts) {
    chartKeys.push((await store.put(`${dir}/charts/${c.name}.png`, c.png, { contentType: 'image/png' })).key);
    await store.put(`${dir}/charts/${c.name}.svg`, new TextEncoder().encode(c.svg), { contentType: 'image/svg+xml' });
  }
  const full = `${markdown}\n## Charts\n\n${chartsMarkdown(charts)}\n`;
  const md = await store.put(`${dir}/report.md`, new TextEncoder().encode(full), { contentType: 'text/markdown' });
  const html = await store.put(`${dir}/report.html`, new TextEncoder().encode(renderHtml(`chrysalis run ${workflowId}`, full, charts)), { contentType: 'text/html' });
  return { json: json.key, markdown: md.key, html: html.key, charts: chartKeys };
}
