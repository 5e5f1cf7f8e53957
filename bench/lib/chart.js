// A dependency-free SVG: throughput (left) and per-hop latency (right) side by side,
// one group of bars per workload and worker count, one bar per contender. Both
// axes are logarithmic: the contenders differ by orders of magnitude.
'use strict'

const COLORS = { floor: '#7f8c8d', 'floor-txn': '#b2bec3', addon: '#2e86de', 'addon-txn': '#1b4f72', 'addon-push': '#74b9ff', reference: '#e67e22' }
const PANEL = { top: 90, bottom: 90, width: 560, gap: 90, left: 70 }
const WIDTH = PANEL.left + 2 * PANEL.width + PANEL.gap + 30
const HEIGHT = 520

const escape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
const fmt = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2))

function logScale(values, height) {
  const positive = values.filter((v) => v > 0)
  const low = 10 ** Math.floor(Math.log10(Math.min(...positive, 1)))
  const high = 10 ** Math.ceil(Math.log10(Math.max(...positive, 10)))
  const y = (v) => height - (height * (Math.log10(Math.max(v, low)) - Math.log10(low))) / (Math.log10(high) - Math.log10(low))
  const ticks = []
  for (let t = low; t <= high * 1.0001; t *= 10) ticks.push(t)
  return { y, ticks }
}

function panel({ x0, title, unit, groups, contenders, value, whisker }) {
  const height = HEIGHT - PANEL.top - PANEL.bottom
  const all = groups.flatMap((g) => contenders.flatMap((c) => [value(g.rows[c]), whisker ? whisker(g.rows[c]) : 0])).filter((v) => v > 0)
  const { y, ticks } = logScale(all.length ? all : [1, 10], height)
  const out = [`<g transform="translate(${x0},${PANEL.top})">`, `<text x="0" y="-30" class="title">${escape(title)}</text>`]
  for (const t of ticks) {
    out.push(`<line x1="0" x2="${PANEL.width}" y1="${y(t)}" y2="${y(t)}" class="grid"/>`)
    out.push(`<text x="-6" y="${y(t) + 4}" class="tick" text-anchor="end">${fmt(t)}</text>`)
  }
  out.push(`<text transform="translate(-48,${height / 2}) rotate(-90)" class="tick" text-anchor="middle">${escape(unit)}</text>`)
  const groupWidth = PANEL.width / Math.max(groups.length, 1)
  const barWidth = Math.min(34, (groupWidth - 16) / contenders.length)
  groups.forEach((g, gi) => {
    const gx = gi * groupWidth + (groupWidth - barWidth * contenders.length) / 2
    contenders.forEach((c, ci) => {
      const row = g.rows[c]
      const v = row ? value(row) : null
      if (!(v > 0)) return
      const bx = gx + ci * barWidth
      out.push(`<rect x="${bx + 2}" y="${y(v)}" width="${barWidth - 4}" height="${height - y(v)}" fill="${COLORS[c]}"><title>${escape(`${row.label}: ${fmt(v)} ${unit}`)}</title></rect>`)
      out.push(`<text x="${bx + barWidth / 2}" y="${y(v) - 3}" class="value" text-anchor="middle">${fmt(v)}</text>`)
      const w = whisker ? whisker(row) : null
      if (w > 0) {
        const cx = bx + barWidth / 2
        out.push(`<line x1="${cx}" x2="${cx}" y1="${y(v)}" y2="${y(w)}" class="whisker"/><line x1="${cx - 5}" x2="${cx + 5}" y1="${y(w)}" y2="${y(w)}" class="whisker"/>`)
      }
    })
    const label = `${g.workload.replace('bench-', '')}, ${g.workers}w`
    out.push(`<text x="${gi * groupWidth + groupWidth / 2}" y="${height + 18}" class="tick" text-anchor="middle">${escape(label)}</text>`)
  })
  out.push(`<line x1="0" x2="${PANEL.width}" y1="${height}" y2="${height}" class="axis"/>`, '</g>')
  return out.join('\n')
}

function renderChart(rows, subtitle) {
  const contenders = ['floor', 'floor-txn', 'addon', 'addon-txn', 'addon-push', 'reference'].filter((c) => rows.some((r) => r.contender === c))
  const keys = [...new Set(rows.map((r) => `${r.workload}|${r.workers}`))]
  const groups = keys.map((key) => {
    const [workload, workers] = key.split('|')
    const picked = {}
    for (const r of rows.filter((x) => x.workload === workload && String(x.workers) === workers)) picked[r.contender] = r
    return { workload, workers, rows: picked }
  })
  const labels = Object.fromEntries(rows.map((r) => [r.contender, r.label]))
  const legend = contenders
    .map((c, i) => `<rect x="${PANEL.left + i * 190}" y="${HEIGHT - 34}" width="14" height="14" fill="${COLORS[c]}"/><text x="${PANEL.left + i * 190 + 20}" y="${HEIGHT - 22}" class="tick">${escape(labels[c])}</text>`)
    .join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">
<style>
.title { font-size: 15px; font-weight: bold; fill: #222 } .tick { font-size: 11px; fill: #444 } .value { font-size: 9px; fill: #333 }
.grid { stroke: #e4e4e4 } .axis { stroke: #888 } .whisker { stroke: #222; stroke-width: 1.2 }
</style>
<rect width="100%" height="100%" fill="white"/>
<text x="${PANEL.left}" y="24" class="tick">${escape(subtitle)}</text>
${panel({ x0: PANEL.left, title: 'Throughput at max: node hops/s (log scale)', unit: 'hops/s', groups, contenders, value: (r) => r && r.max.hopsPerSecond })}
${panel({
  x0: PANEL.left + PANEL.width + PANEL.gap,
  title: 'Per-hop latency at half of max: p50 bar, p99 whisker (ms, log)',
  unit: 'ms',
  groups,
  contenders,
  value: (r) => r && r.fixed.hopP50,
  whisker: (r) => r && r.fixed.hopP99,
})}
${legend}
</svg>
`
}

module.exports = { renderChart }
