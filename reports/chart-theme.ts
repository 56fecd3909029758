/** The report charts' shared look (one font, white background, quiet grid) and their file-name-safe names. */
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };

export const FONT = 'DejaVu Sans';

/** Shared look: white background (so blank detection means something), one font, quiet grid. */
const CONFIG = {
  font: `${FONT}, sans-serif`,
  view: { stroke: '#cccccc' },
  title: { fontSize: 14, anchor: 'start', subtitleColor: '#555555', offset: 8 },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eeeeee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
} as const;

export function top(spec: Record<string, unknown>): TopLevelSpec {
  return { background: 'white', padding: 12, config: CONFIG, ...spec } as TopLevelSpec;
}

/** A file-name-safe chart name part. */
export function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'chart'
  );
}

// ---- specs ------------------------------------------------------------------------------------
