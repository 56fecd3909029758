/** Report rendering: charts (vega-lite → SVG → PNG), the self-contained HTML page, PNG checks. */
export * from './charts';
export * from './html';
export * from './png';
