/** The specialists report's charts: the confusable subsets found, and the test examples by specialist coverage. */
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };
import { top } from './chart-theme';

export interface SubsetInput {
  specialist: number;
  classes: string[];
}
export interface CoverageRow {
  specialistsCovering: string;
  examples: number;
  deltaCorrect: number;
  relativeChange: number;
}

export function subsetsSpec(subsets: SubsetInput[]): TopLevelSpec {
  const sorted = [...subsets].sort((a, b) => a.specialist - b.specialist);
  const order = [...new Set(sorted.flatMap((s) => s.classes))];
  const cells = sorted.flatMap((s) =>
    s.classes.map((cls) => ({ specialist: `specialist ${s.specialist}`, class: cls, size: s.classes.length })),
  );
  const rows = sorted.map((s) => `specialist ${s.specialist}`);
  return top({
    title: {
      text: "Specialists' class subsets",
      subtitle: `${sorted.length} specialists covering ${order.length} classes`,
    },
    data: { values: cells },
    width: Math.max(240, order.length * 22),
    height: Math.max(80, sorted.length * 24),
    mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
    encoding: {
      x: {
        field: 'class',
        type: 'ordinal',
        sort: order,
        title: null,
        axis: { labelAngle: order.some((s) => s.length > 3) ? -40 : 0 },
      },
      y: { field: 'specialist', type: 'ordinal', sort: rows, title: null },
      color: { field: 'specialist', type: 'nominal', sort: rows, legend: null, scale: { scheme: 'tableau20' } },
    },
  });
}

export function coverageSpec(rows: CoverageRow[]): TopLevelSpec {
  const order = rows.map((r) => r.specialistsCovering);
  const values = rows.map((r) => ({
    ...r,
    labelY: Math.max(0, r.relativeChange),
    label: `${r.deltaCorrect > 0 ? '+' : ''}${r.deltaCorrect}`,
  }));
  const x = {
    field: 'specialistsCovering',
    type: 'ordinal',
    sort: order,
    title: 'specialists covering the correct class',
    axis: { labelAngle: 0 },
  };
  return top({
    title: {
      text: 'Accuracy change by specialist coverage (Table 4)',
      subtitle: 'left: test examples; right: relative accuracy change, labelled with Δ correct',
    },
    data: { values },
    hconcat: [
      {
        width: Math.max(200, rows.length * 30),
        height: 220,
        mark: { type: 'bar', color: '#7f9fbf' },
        encoding: { x, y: { field: 'examples', type: 'quantitative', title: 'test examples' } },
      },
      {
        width: Math.max(200, rows.length * 30),
        height: 220,
        encoding: { x },
        layer: [
          {
            mark: 'bar',
            encoding: {
              y: {
                field: 'relativeChange',
                type: 'quantitative',
                title: 'relative accuracy change',
                axis: { format: '+.1%' },
              },
              color: { condition: { test: 'datum.relativeChange < 0', value: '#c0504d' }, value: '#4f9f5f' },
            },
          },
          {
            mark: { type: 'text', baseline: 'bottom', dy: -3, fontSize: 10 },
            encoding: { y: { field: 'labelY', type: 'quantitative' }, text: { field: 'label' } },
          },
        ],
      },
    ],
  });
}
