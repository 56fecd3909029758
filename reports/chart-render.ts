/**
 * Chart rendering: a vega-lite spec compiled to a vega View (headless, renderer 'none'), written as SVG and
 * rasterised to PNG with resvg.
 *
 * vega and vega-lite are ESM-only; this CommonJS module loads them with a real dynamic `import()`
 * (kept as such by TypeScript's Node16 module mode).
 */
import { Resvg } from '@resvg/resvg-js';
import type * as VegaModule from 'vega' with { 'resolution-mode': 'import' };
import type * as VegaLiteModule from 'vega-lite' with { 'resolution-mode': 'import' };
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };
import { FONT, top } from './chart-theme';

export interface RenderOptions {
  /** PNG pixels per SVG pixel. @default 1 */
  scale?: number;
}

type Vega = typeof VegaModule;
type VegaLite = typeof VegaLiteModule;
let libs: Promise<{ vega: Vega; vl: VegaLite }> | undefined;

function load(): Promise<{ vega: Vega; vl: VegaLite }> {
  libs ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => ({ vega, vl }));
  return libs;
}

/**
 * Loads vega and vega-lite and renders one small chart, so that a long-lived worker pays the module
 * loading and first-render costs at start rather than inside its first run's report.
 */
export async function warmUpCharts(): Promise<void> {
  svgToPng(
    await specToSvg(
      top({
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: 'line',
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      }),
    ),
  );
}

/** A vega-lite spec as SVG, via a headless vega View. */
export async function specToSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vl } = await load();
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * SVG to PNG. Uses the system fonts (DejaVu Sans preferred); where no font is installed the text is
 * simply not drawn, the marks still are.
 */
export function svgToPng(svg: string, options: RenderOptions = {}): Uint8Array {
  const scale = options.scale ?? 1;
  const resvg = new Resvg(svg, {
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: FONT, sansSerifFamily: FONT },
    ...(scale !== 1 ? { fitTo: { mode: 'zoom', value: scale } } : {}),
  });
  return resvg.render().asPng();
}
