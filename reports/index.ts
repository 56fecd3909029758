/** Report rendering: charts (vega-lite → SVG → PNG), the self-contained HTML page. */
export * from './charts';
export * from './html';
