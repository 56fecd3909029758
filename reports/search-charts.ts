/**
 * The student search's chart: every candidate's validation errors against its size and its native
 * latency, the Pareto front and the chosen student marked, the budget drawn as a dashed line. Rendered
 * with reports/charts.ts' SVG and PNG helpers.
 */
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };
import { FONT, specToSvg, svgToPng } from './charts';
import type { Chart } from './charts';
import type { SearchReport } from './search-markdown';

export interface SearchChartPoint {
  name: string;
  validationErrors: number;
  latencyMs: number;
  parameters: number;
  /** Epochs of the candidate's furthest rung. */
  epochs: number;
  status: 'chosen' | 'on the front' | 'dominated';
}

export interface SearchChartInputs {
  title: string;
  points: SearchChartPoint[];
  /** The most validation errors an error budget allows (teachers + N). */
  maxErrors?: number;
  /** A latency budget in ms. */
  maxLatencyMs?: number;
}

const STATUS_COLORS = { domain: ['chosen', 'on the front', 'dominated'], range: ['#d62728', '#1f77b4', '#bbbbbb'] };

/** One panel: validation errors against `x` (log scale), points by status, the budget as rules. */
function panel(x: 'parameters' | 'latencyMs', inputs: SearchChartInputs): Record<string, unknown> {
  const xTitle = x === 'parameters' ? 'parameters' : 'native p50 latency at batch 1 (ms)';
  const rules: Record<string, unknown>[] = [];
  if (inputs.maxErrors !== undefined)
    rules.push({
      data: { values: [{ y: inputs.maxErrors }] },
      mark: { type: 'rule', strokeDash: [6, 4], color: '#d62728' },
      encoding: { y: { field: 'y', type: 'quantitative' } },
    });
  if (inputs.maxLatencyMs !== undefined && x === 'latencyMs')
    rules.push({
      data: { values: [{ x: inputs.maxLatencyMs }] },
      mark: { type: 'rule', strokeDash: [6, 4], color: '#d62728' },
      encoding: { x: { field: 'x', type: 'quantitative' } },
    });
  return {
    width: 320,
    height: 240,
    layer: [
      {
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          x: { field: x, type: 'quantitative', title: xTitle, scale: { type: 'log' } },
          y: {
            field: 'validationErrors',
            type: 'quantitative',
            title: 'validation errors',
            scale: { zero: false, padding: 8 },
          },
          color: { field: 'status', type: 'nominal', title: '', scale: STATUS_COLORS },
          shape: { field: 'epochs', type: 'nominal', title: 'epochs trained' },
        },
      },
      ...rules,
    ],
  };
}

export function searchFrontSpec(inputs: SearchChartInputs): TopLevelSpec {
  return {
    background: 'white',
    padding: 12,
    config: { font: `${FONT}, sans-serif`, view: { stroke: '#cccccc' }, axis: { gridColor: '#eeeeee' } },
    title: {
      text: `Student search: ${inputs.title}`,
      subtitle: 'each candidate at its furthest rung; dashed: the budget',
      anchor: 'start',
    },
    data: { values: inputs.points },
    hconcat: [panel('parameters', inputs), panel('latencyMs', inputs)],
  } as unknown as TopLevelSpec;
}

/** The search's charts, ready to store beside the report. */
export async function renderSearchCharts(inputs: SearchChartInputs): Promise<Chart[]> {
  const svg = await specToSvg(searchFrontSpec(inputs));
  return [
    { name: 'search-front', title: 'Pareto front: validation errors vs size and latency', svg, png: svgToPng(svg) },
  ];
}

/** The chart's points and budget lines from a search report. */
export function searchChartInputs(r: SearchReport): SearchChartInputs {
  const b = r.budget;
  return {
    title: r.workflowId,
    points: r.candidates.map((c) => ({
      name: c.name,
      validationErrors: c.validation.errors,
      latencyMs: c.cost.native.batch1.p50Ms,
      parameters: c.cost.parameters,
      epochs: c.rungs.at(-1)?.epoch ?? 0,
      status: c.name === r.chosen?.name ? 'chosen' : c.onFront ? 'on the front' : 'dominated',
    })),
    ...('maxExtraErrors' in b && r.ensemble ? { maxErrors: r.ensemble.validation.errors + b.maxExtraErrors } : {}),
    ...('maxLatencyMs' in b ? { maxLatencyMs: b.maxLatencyMs } : {}),
  };
}
