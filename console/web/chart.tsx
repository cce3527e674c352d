/** A time-series chart: uPlot on a canvas, redrawn in place when its data changes. */
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export interface Line {
  label: string
  color: string
  values: Array<number | null>
  fill?: boolean
}

export interface ChartProps {
  title: string
  /** x: seconds since the epoch. */
  t: number[]
  lines: Line[]
  unit: string
  height?: number
}

const AXIS = { stroke: '#c9d1d9', grid: { stroke: '#30363d', width: 1 }, ticks: { stroke: '#30363d' }, font: '15px system-ui, sans-serif' }

export function Chart({ title, t, lines, unit, height = 220 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const shape = lines.map((l) => l.label).join('|')

  useEffect(() => {
    const el = box.current
    if (!el) return
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true, live: false },
      cursor: { show: true, drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{ ...AXIS, space: 110, values: (_u, ticks) => ticks.map(hms) }, { ...AXIS, size: 70, values: (_u, ticks) => ticks.map((v) => `${formatTick(v)} ${unit}`) }],
      series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, spanGaps: false, ...(l.fill ? { fill: `${l.color}33` } : {}) }))],
    }
    const u = new uPlot(opts, [t, ...lines.map((l) => l.values)] as uPlot.AlignedData, el)
    plot.current = u
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }))
    ro.observe(el)
    return () => {
      ro.disconnect()
      u.destroy()
      plot.current = null
    }
    // rebuilt only when the set of lines changes; data goes through setData below
  }, [shape, height, unit])

  // new data comes once a second (a new `t`): redraw then, not on every render of the page
  useEffect(() => {
    plot.current?.setData([t, ...lines.map((l) => l.values)] as uPlot.AlignedData)
  }, [t])

  return (
    <figure class="chart" aria-label={title}>
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" />
    </figure>
  )
}

/** Seconds since the epoch → 14:05:30 (a wall screen needs no dates). */
function hms(t: number): string {
  const d = new Date(t * 1000)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
}

function formatTick(v: number): string {
  if (v === 0) return '0'
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(1)}k`
  if (Math.abs(v) < 1) return v.toFixed(2)
  return Number.isInteger(v) ? String(v) : v.toFixed(1)
}
