/**
 * Stores a run report: JSON, Markdown with a charts section, a self-contained HTML page, and each chart as
 * PNG + SVG.
 */
import type { ArtifactStore } from '../storage/artifact-store';
import { putJson } from '../storage/artifact-store';
import { renderCharts, renderHtml, withCharts } from '../reports';
import type { Chart, ChartInputs } from '../reports';
import { keys } from '../common/store-keys';
import type { StoredReport } from '../contracts/exchange';

/** How one pipeline's report becomes Markdown and charts. */
export interface ReportRendering<R> {
  markdown: (report: R) => string;
  charts: (store: ArtifactStore, report: R) => Promise<ChartInputs>;
  /** Charts of kinds reports/charts.ts does not draw, rendered by the pipeline's own module. */
  moreCharts?: (report: R) => Promise<Chart[]>;
}

export async function storeReport<R extends { workflowId: string }>(
  store: ArtifactStore,
  report: R,
  rendering: ReportRendering<R>,
): Promise<StoredReport> {
  const dir = keys.run(report.workflowId);
  const markdown = rendering.markdown(report);
  const chartInputs = await rendering.charts(store, report);
  const encode = (text: string) => new TextEncoder().encode(text);
  // Independent objects: the JSON uploads while the charts render, and the charts upload side by side.
  const [json, common, more] = await Promise.all([
    putJson(store, `${dir}/report.json`, report),
    renderCharts(chartInputs),
    rendering.moreCharts?.(report) ?? [],
  ]);
  const charts = [...common, ...more];
  const full = withCharts(markdown, charts);
  const [md, html, chartKeys] = await Promise.all([
    store.put(`${dir}/report.md`, encode(full), { contentType: 'text/markdown' }),
    store.put(`${dir}/report.html`, encode(renderHtml(`chrysalis run ${report.workflowId}`, full, charts)), {
      contentType: 'text/html',
    }),
    Promise.all(
      charts.map(async (c) => {
        const [png] = await Promise.all([
          store.put(`${dir}/charts/${c.name}.png`, c.png, { contentType: 'image/png' }),
          store.put(`${dir}/charts/${c.name}.svg`, encode(c.svg), { contentType: 'image/svg+xml' }),
        ]);
        return png.key;
      }),
    ),
  ]);
  return { json: json.key, markdown: md.key, html: html.key, charts: chartKeys };
}
