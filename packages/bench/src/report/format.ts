// Number formatting shared by the Markdown table and the charts.
import type { Unit } from '../types.ts';

/** Three significant digits, thousands separated: 6123 -> "6,123", 0.0123 -> "0.0123". */
export function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

export function fmtValue(v: number, unit: Unit): string {
  return `${fmtNumber(v)} ${unit}`;
}
