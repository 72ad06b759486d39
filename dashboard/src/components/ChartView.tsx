import { useEffect, useRef, useState } from "preact/hooks";
import { formatMoney } from "../money.ts";

export interface Series {
  label: string;
  /** Exact decimal strings (or null: no figure); converted to Number for plotting only. */
  values: Array<string | null>;
  color: string;
  type?: "bar" | "line";
  dashed?: boolean;
}

interface Props {
  label: string;
  labels: string[];
  series: Series[];
  xTitle: string;
  yTitle: string;
  currency: string;
  /** Header of the first column of the data table alternative. */
  firstColumn: string;
}

type ChartModule = typeof import("../chartjs.ts");
let chartModule: Promise<ChartModule> | null = null;

/** Start loading Chart.js (its own chunk) while the figures are still on their way. */
export function preloadCharts(): void {
  chartModule ??= import("../chartjs.ts");
}

/** A chart on a canvas (role="img"), with the exact figures in a visually hidden table. */
export function ChartView({ label, labels, series, xTitle, yTitle, currency, firstColumn }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    let chart: { destroy(): void } | null = null;
    let cancelled = false;
    chartModule ??= import("../chartjs.ts");
    chartModule.then(
      ({ Chart }) => {
        if (cancelled || !canvas.current) return;
        chart = new Chart(canvas.current, {
          type: "bar",
          data: {
            labels,
            datasets: series.map((item) => ({
              type: item.type ?? "bar",
              label: item.label,
              data: item.values.map((value) => (value === null ? null : Number(value))),
              backgroundColor: item.color,
              borderColor: item.color,
              borderWidth: item.type === "line" ? 2 : 0,
              borderDash: item.dashed ? [6, 4] : [],
              pointRadius: item.type === "line" ? 3 : 0,
              spanGaps: false,
            })),
          },
          options: {
            responsive: true,
            maintainAspectRatio: false,
            interaction: { mode: "index", intersect: false },
            plugins: {
              legend: { position: "bottom" },
              tooltip: {
                callbacks: {
                  // The tooltip shows the exact string, formatted, not the plotted float.
                  label: (context) => {
                    const raw = series[context.datasetIndex]?.values[context.dataIndex] ?? null;
                    return `${context.dataset.label}: ${raw === null ? "—" : formatMoney(raw, currency)}`;
                  },
                },
              },
            },
            scales: {
              x: { title: { display: true, text: xTitle } },
              y: {
                title: { display: true, text: yTitle },
                ticks: { callback: (value) => formatMoney(String(value), currency) },
              },
            },
          },
        });
      },
      () => setFailed(true),
    );
    return () => {
      cancelled = true;
      chart?.destroy();
    };
  }, [JSON.stringify({ labels, series, xTitle, yTitle, currency })]);

  return (
    <figure class="chart">
      <div class="chart-box">
        <canvas ref={canvas} role="img" aria-label={label} />
      </div>
      {failed && <p class="problem">The chart could not be drawn; the figures are in the table below.</p>}
      {/* A wrapper: a table ignores width: 1px, so it is the div that is visually hidden. */}
      <div class={failed ? "chart-table" : "visually-hidden"}>
      <table>
        <caption>{label}</caption>
        <thead>
          <tr>
            <th scope="col">{firstColumn}</th>
            {series.map((item) => (
              <th scope="col" key={item.label}>
                {item.label} ({currency})
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {labels.map((text, index) => (
            <tr key={text}>
              <th scope="row">{text}</th>
              {series.map((item) => (
                <td key={item.label}>{item.values[index] ?? "—"}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      </div>
    </figure>
  );
}
