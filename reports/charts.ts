/**
 * Report charts: declarative vega-lite specs built from plain data, compiled to a vega View
 * (headless, renderer 'none'), written as SVG and rasterised to PNG with resvg.
 *
 * vega and vega-lite are ESM-only; this CommonJS module loads them with a real dynamic `import()`
 * (kept as such by TypeScript's Node16 module mode).
 */
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };
import { top, slug } from './chart-theme';
import { specToSvg, svgToPng } from './chart-render';
import type { RenderOptions } from './chart-render';
import { coverageSpec, subsetsSpec } from './specialists-charts';
import type { CoverageRow, SubsetInput } from './specialists-charts';

export { FONT, slug } from './chart-theme';
export { specToSvg, svgToPng, warmUpCharts } from './chart-render';
export type { RenderOptions } from './chart-render';
export { coverageSpec, subsetsSpec } from './specialists-charts';
export type { CoverageRow, SubsetInput } from './specialists-charts';

export interface CurvePoint {
  model: string;
  epoch: number;
  loss: number;
  trainAccuracy: number;
}
export interface ConfusionInput {
  model: string;
  classNames: string[];
  /** matrix[true][predicted] */ matrix: number[][];
}
export interface SweepPoint {
  temperature: number;
  alpha: number;
  errors: number;
}
/** One model on the error-vs-latency chart. */
export interface TradeoffPoint {
  model: string;
  /** teacher, ensemble, baseline, student, generalist, …: the point's colour. */
  role: string;
  /** Test errors / test examples. */
  errorRate: number;
  /** Native backend, batch 1, median milliseconds per call. */
  p50Ms: number;
}

export interface ChartInputs {
  title: string;
  /** Training curves: one panel per model (EpochStats from each model's manifest history). */
  curves?: CurvePoint[];
  /** Test error against native batch-1 latency, one point per model (and the ensemble). */
  tradeoff?: TradeoffPoint[];
  /** One confusion-matrix heatmap per entry. */
  confusions?: ConfusionInput[];
  /** Test errors against temperature, one line per α. */
  temperatureSweep?: SweepPoint[];
  /** Drawn as a dashed horizontal line on the temperature sweep (the hard-label baseline). */
  baselineErrors?: number;
  /** The specialists' class subsets. */
  subsets?: SubsetInput[];
  /** Table 4: accuracy change by the number of specialists covering the test example. */
  coverage?: CoverageRow[];
}

export interface Chart {
  name: string;
  title: string;
  svg: string;
  png: Uint8Array;
}

/**
 * Small multiples: one panel pair per model (loss above training accuracy), wrapping after four models. Each
 * loss has its own y axis, since a student's loss (the distillation objective) and a baseline's (cross-entropy)
 * are different quantities; accuracy and epochs share one scale so the panels compare. Overlaid lines hid
 * each other.
 */
export function trainingCurvesSpec(title: string, curves: CurvePoint[]): TopLevelSpec {
  const models = [...new Set(curves.map((c) => c.model))];
  const epochs = curves.map((c) => c.epoch);
  const accuracy = curves.map((c) => c.trainAccuracy);
  const x = {
    field: 'epoch',
    type: 'quantitative',
    title: 'epoch',
    scale: { domain: [Math.min(...epochs), Math.max(...epochs)] },
    axis: { tickMinStep: 1 },
  };
  const mark = { type: 'line', point: new Set(epochs).size <= 30, strokeWidth: 2 };
  const color = (model: string) => ({ value: PALETTE[models.indexOf(model) % PALETTE.length] });
  const panel = (model: string, y: Record<string, unknown>, xAxis: boolean): Record<string, unknown> => ({
    width: 180,
    height: 110,
    transform: [{ filter: { field: 'model', equal: model } }],
    mark,
    encoding: { x: xAxis ? x : { ...x, title: null }, y, color: color(model) },
  });
  const pair = (model: string): Record<string, unknown> => ({
    title: { text: model, fontSize: 12, subtitle: '' },
    spacing: 6,
    vconcat: [
      panel(
        model,
        { field: 'loss', type: 'quantitative', title: 'loss (own objective)', scale: { zero: false } },
        false,
      ),
      panel(
        model,
        {
          field: 'trainAccuracy',
          type: 'quantitative',
          title: 'training accuracy',
          scale: { domain: [Math.min(...accuracy), Math.max(...accuracy)], nice: true },
          axis: { format: '.1%' },
        },
        true,
      ),
    ],
  });
  return top({
    title: {
      text: title,
      subtitle: [
        'per epoch, on the training batches (dropout and jitter active); one panel pair per model',
        "loss is each model's own objective: distillation (soft + hard, weighted) for students, " +
          'cross-entropy otherwise; not comparable across roles',
      ],
    },
    data: { values: curves },
    columns: Math.min(4, models.length),
    concat: models.map(pair),
  });
}

/** Line colours by model order (tableau10): a model keeps its colour in both of its panels. */
const PALETTE = [
  '#4c78a8',
  '#f58518',
  '#e45756',
  '#72b7b2',
  '#54a24b',
  '#eeca3b',
  '#b279a2',
  '#ff9da6',
  '#9d755d',
  '#bab0ac',
];

/** Test error against native latency at batch 1 (log scale), one labelled point per model. */
export function tradeoffSpec(title: string, points: TradeoffPoint[]): TopLevelSpec {
  const x = {
    field: 'p50Ms',
    type: 'quantitative',
    title: 'latency at batch 1, native backend, p50 (ms, log scale)',
    scale: { type: 'log', nice: false, padding: 24 },
  };
  const y = { field: 'errorRate', type: 'quantitative', title: 'test error', scale: { zero: false, padding: 16 } };
  return top({
    title: { text: title, subtitle: 'one point per model; lower left is better' },
    data: { values: points },
    width: 420,
    height: 280,
    layer: [
      {
        mark: { type: 'point', filled: true, size: 90 },
        encoding: {
          x,
          y: { ...y, axis: { format: '.2%' } },
          color: { field: 'role', type: 'nominal', title: 'role' },
          shape: { field: 'role', type: 'nominal', title: 'role' },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 8, dy: -6, fontSize: 11 },
        encoding: { x, y, text: { field: 'model' } },
      },
    ],
  });
}

export function confusionSpec(c: ConfusionInput): TopLevelSpec {
  const C = c.classNames.length;
  const name = (i: number): string => c.classNames[i] ?? String(i);
  const cells = c.matrix.flatMap((row, t) => row.map((count, p) => ({ true: name(t), predicted: name(p), count })));
  const max = Math.max(1, ...cells.map((x) => x.count));
  const n = cells.reduce((s, x) => s + x.count, 0);
  const errors = cells.reduce((s, x) => s + (x.true === x.predicted ? 0 : x.count), 0);
  const withShade = cells.map((x) => ({ ...x, dark: Math.log1p(x.count) / Math.log1p(max) > 0.6 }));
  const side = Math.max(220, C * 30);
  const longNames = c.classNames.some((s) => s.length > 3);
  const order = c.classNames.map((_, i) => name(i));
  return top({
    title: {
      text: `Confusion matrix: ${c.model}`,
      subtitle: `rows true class, columns predicted; ${errors} errors of ${n}`,
    },
    data: { values: withShade },
    width: side,
    height: side,
    encoding: {
      x: {
        field: 'predicted',
        type: 'ordinal',
        sort: order,
        title: 'predicted class',
        axis: { labelAngle: longNames ? -40 : 0, orient: 'bottom' },
      },
      y: { field: 'true', type: 'ordinal', sort: order, title: 'true class' },
    },
    layer: [
      // Zero cells stay white (the view background), so a single stray error still shows.
      {
        mark: 'rect',
        transform: [{ filter: 'datum.count > 0' }],
        encoding: {
          color: {
            field: 'count',
            type: 'quantitative',
            title: 'examples',
            scale: { type: 'symlog', scheme: 'blues' },
          },
        },
      },
      ...(C <= 20
        ? [
            {
              mark: { type: 'text', fontSize: C <= 10 ? 11 : 9 },
              transform: [{ filter: 'datum.count > 0' }],
              encoding: {
                text: { field: 'count', type: 'quantitative' },
                color: { condition: { test: 'datum.dark', value: 'white' }, value: 'black' },
              },
            },
          ]
        : []),
    ],
  });
}

export function temperatureSweepSpec(title: string, sweep: SweepPoint[], baselineErrors?: number): TopLevelSpec {
  const ts = [...new Set(sweep.map((s) => s.temperature))].sort((a, b) => a - b);
  const logScale = ts.every((t) => t > 0) && Math.max(...ts) / Math.min(...ts) >= 8;
  const layers: Record<string, unknown>[] = [
    {
      data: { values: sweep },
      mark: { type: 'line', point: { size: 40 }, strokeWidth: 2 },
      encoding: {
        x: {
          field: 'temperature',
          type: 'quantitative',
          title: 'temperature T',
          scale: logScale ? { type: 'log', base: 2, nice: false } : { zero: false },
          ...(ts.length <= 12 ? { axis: { values: ts } } : {}),
        },
        y: { field: 'errors', type: 'quantitative', title: 'test errors', scale: { zero: false } },
        color: { field: 'alpha', type: 'nominal', title: 'α (soft weight)' },
      },
    },
  ];
  if (baselineErrors !== undefined) {
    const base = { data: { values: [{ errors: baselineErrors, label: `hard-label baseline: ${baselineErrors}` }] } };
    layers.push(
      {
        ...base,
        mark: { type: 'rule', strokeDash: [6, 4], color: '#b00000' },
        encoding: { y: { field: 'errors', type: 'quantitative' } },
      },
      {
        ...base,
        mark: { type: 'text', align: 'right', baseline: 'bottom', dy: -3, x: 'width', color: '#b00000', fontSize: 11 },
        encoding: { y: { field: 'errors', type: 'quantitative' }, text: { field: 'label' } },
      },
    );
  }
  return top({
    title: { text: title, subtitle: 'distilled students: test errors against the softmax temperature' },
    width: 420,
    height: 260,
    layer: layers,
  });
}

/** The specs for every chart kind present in `inputs` (empty arrays give no chart). */
export function chartSpecs(inputs: ChartInputs): { name: string; title: string; spec: TopLevelSpec }[] {
  const out: { name: string; title: string; spec: TopLevelSpec }[] = [];
  if (inputs.curves?.length)
    out.push({
      name: 'training-curves',
      title: `Training curves: ${inputs.title}`,
      spec: trainingCurvesSpec(`Training curves: ${inputs.title}`, inputs.curves),
    });
  if (inputs.tradeoff?.length)
    out.push({
      name: 'error-vs-latency',
      title: 'Test error against latency',
      spec: tradeoffSpec(`Test error against latency: ${inputs.title}`, inputs.tradeoff),
    });
  const used = new Set<string>();
  for (const c of inputs.confusions ?? []) {
    let name = `confusion-${slug(c.model)}`;
    for (let i = 2; used.has(name); i++) name = `confusion-${slug(c.model)}-${i}`;
    used.add(name);
    out.push({ name, title: `Confusion matrix: ${c.model}`, spec: confusionSpec(c) });
  }
  if (inputs.temperatureSweep?.length)
    out.push({
      name: 'temperature-sweep',
      title: 'Temperature sweep',
      spec: temperatureSweepSpec(`Temperature sweep: ${inputs.title}`, inputs.temperatureSweep, inputs.baselineErrors),
    });
  if (inputs.subsets?.length)
    out.push({ name: 'specialist-subsets', title: "Specialists' class subsets", spec: subsetsSpec(inputs.subsets) });
  if (inputs.coverage?.length)
    out.push({
      name: 'coverage',
      title: 'Accuracy change by specialist coverage (Table 4)',
      spec: coverageSpec(inputs.coverage),
    });
  return out;
}

/** Renders every chart kind present in `inputs` to SVG and PNG. */
export async function renderCharts(inputs: ChartInputs, options: RenderOptions = {}): Promise<Chart[]> {
  const charts: Chart[] = [];
  for (const { name, title, spec } of chartSpecs(inputs)) {
    const svg = await specToSvg(spec);
    charts.push({ name, title, svg, png: svgToPng(svg, options) });
  }
  return charts;
}
