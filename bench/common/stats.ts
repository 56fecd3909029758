/** Small statistics every bench reports with. */

/** The median of `xs` (the mean of the middle two for an even count). */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
/** `x` to `digits` decimals, as a number (for JSON). */
export const round = (x: number, digits: number): number => Number(x.toFixed(digits));
