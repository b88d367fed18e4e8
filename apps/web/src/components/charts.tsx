// Bar charts as inline SVG: a few hundred bytes instead of a chart library. Each chart has a text
// alternative (its title and values); pages show the same numbers in a table too.

export interface Bar {
  label: string
  value: number
  /** Shown in the bar's tooltip and text alternative. */
  display: string
}

export function BarChart({
  title,
  bars,
  max,
  color = 'fill-indigo-600 dark:fill-indigo-400',
}: {
  title: string
  bars: Bar[]
  max?: number
  color?: string
}) {
  const width = 600
  const height = 160
  const top = Math.max(max ?? 0, ...bars.map((b) => b.value), 0) || 1
  const slot = bars.length > 0 ? width / bars.length : width
  const barWidth = Math.max(2, Math.min(40, slot * 0.7))
  const summary = `${title}: ${bars.map((b) => `${b.label} ${b.display}`).join(', ')}`
  return (
    <figure className="w-full">
      <figcaption className="mb-1 text-sm font-medium">{title}</figcaption>
      <svg
        viewBox={`0 0 ${width} ${height + 20}`}
        role="img"
        aria-label={summary}
        className="h-44 w-full"
        preserveAspectRatio="none"
      >
        <line x1="0" y1={height} x2={width} y2={height} className="stroke-slate-300 dark:stroke-slate-600" />
        {bars.map((bar, i) => {
          const h = (bar.value / top) * (height - 4)
          const x = i * slot + (slot - barWidth) / 2
          return (
            <g key={bar.label}>
              <rect
                x={x}
                y={height - h}
                width={barWidth}
                height={Math.max(h, bar.value > 0 ? 1 : 0)}
                className={color}
              >
                <title>{`${bar.label}: ${bar.display}`}</title>
              </rect>
              {(bars.length <= 14 || i % Math.ceil(bars.length / 10) === 0) && (
                <text
                  x={i * slot + slot / 2}
                  y={height + 14}
                  textAnchor="middle"
                  className="fill-slate-600 text-[10px] dark:fill-slate-400"
                >
                  {bar.label.length > 10 ? `${bar.label.slice(0, 9)}…` : bar.label}
                </text>
              )}
            </g>
          )
        })}
      </svg>
    </figure>
  )
}
