import { formatPct } from "../money.ts";

/** A tiny inline SVG of margin % over a few months; its label lists every value. */
export function Sparkline({ months, values }: { months: string[]; values: Array<string | null> }) {
  const width = 72;
  const height = 24;
  const pad = 3;
  const numbers = values.map((value) => (value === null ? null : Number(value)));
  const known = numbers.filter((value): value is number => value !== null);
  const label = `Margin % trend: ${months.map((month, index) => `${month} ${formatPct(values[index] ?? null)}`).join(", ")}`;
  const low = Math.min(0, ...known);
  const high = Math.max(0, ...known);
  const span = high - low || 1;
  const x = (index: number) => pad + (index * (width - 2 * pad)) / Math.max(1, values.length - 1);
  const y = (value: number) => pad + ((high - value) * (height - 2 * pad)) / span;
  // Segments between known neighbours: a month without a figure is a gap, not a zero.
  const segments: string[] = [];
  numbers.forEach((value, index) => {
    const next = numbers[index + 1];
    if (value !== null && next !== null && next !== undefined) {
      segments.push(`M${x(index).toFixed(1)},${y(value).toFixed(1)}L${x(index + 1).toFixed(1)},${y(next).toFixed(1)}`);
    }
  });
  return (
    <svg class="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <title>{label}</title>
      <line class="zero" x1={pad} x2={width - pad} y1={y(0)} y2={y(0)} />
      {segments.length > 0 && <path d={segments.join("")} />}
      {numbers.map((value, index) =>
        value === null ? null : (
          <circle key={index} cx={x(index)} cy={y(value)} r={2.2} class={value < 0 ? "neg" : undefined} />
        ),
      )}
    </svg>
  );
}
