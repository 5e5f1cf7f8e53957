// Turns the measured rows into bench/results/<full|quick>.{json,md,svg}.
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { renderChart } = require('./chart')

// Issue #12's targets. The fixed-rate phase is "unloaded" when run with a low --rate (the
// issue: --rate 2), else at half of each contender's max.
const TARGETS = { vsReference: 30, ofFloor: 0.5, unloadedAboveFloorMs: 1.5, p99OverP50: 4, cassandraReads: 0.2, redisCommands: 6, workerCpuUs: 100, unloadedRate: 5 }

function fmt(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return 'n/a'
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

const short = (id) => id.replace('bench-', '')

// One line per workload and worker count, the contenders side by side.
function summaryTable(rows) {
  const order = ['floor', 'floor-txn', 'addon', 'addon-txn', 'addon-push', 'reference'].filter((c) => rows.some((r) => r.contender === c))
  const label = (c) => rows.find((r) => r.contender === c).label
  const keys = [...new Set(rows.map((r) => `${r.workload}|${r.workers}`))]
  const lines = [
    `| workload | workers | hops/s: ${order.map(label).join(' / ')} | this addon vs reference | this addon vs raw floor | hop p50 / p99 ms at half max: ${order.map(label).join(' / ')} |`,
    '|---|---|---|---|---|---|',
  ]
  for (const key of keys) {
    const [workload, workers] = key.split('|')
    const pick = (c) => rows.find((r) => r.contender === c && r.workload === workload && String(r.workers) === workers)
    const [addon, reference, floor] = [pick('addon'), pick('reference'), pick('floor')]
    const ratio = (a, b) => (a && b && b.max.hopsPerSecond ? a.max.hopsPerSecond / b.max.hopsPerSecond : null)
    const hops = order.map((c) => fmt(pick(c) && pick(c).max.hopsPerSecond)).join(' / ')
    const latency = order.map((c) => (pick(c) ? `${fmt(pick(c).fixed.hopP50, 1)} / ${fmt(pick(c).fixed.hopP99, 0)}` : 'n/a')).join(', ')
    const vsReference = ratio(addon, reference)
    const vsFloor = ratio(addon, floor)
    lines.push(
      `| ${short(workload)} | ${workers} | ${hops} | ${vsReference === null ? 'n/a' : `${fmt(vsReference, 1)}x`} | ${vsFloor === null ? 'n/a' : `${fmt(100 * vsFloor)}%`} | ${latency} |`,
    )
  }
  return lines.join('\n')
}

function throughputTable(rows) {
  const lines = [
    '| contender | workers | workload | hops/s | runs/s | worker CPU % | client CPU % | stack CPU % (Kafka / Cassandra / Redis) | CPU µs / hop: workers, stack | worker RSS MB | other CPU % (max) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    const { max, fixed } = r
    const perHop = (percent) => (max.hopsPerSecond ? fmt((10000 * percent) / max.hopsPerSecond) : 'n/a')
    const split = [max.kafkaCpuPercent, max.cassandraCpuPercent, max.redisCpuPercent].map((v) => fmt(v)).join(' / ')
    lines.push(
      `| ${r.label} | ${r.workers} | ${short(r.workload)} | ${fmt(max.hopsPerSecond)} | ${fmt(max.runsPerSecond, 1)} | ${fmt(max.workerCpuPercent)} | ` +
        `${fmt(max.clientCpuPercent)} | ${fmt(max.stackCpuPercent)} (${split}) | ${perHop(max.workerCpuPercent)}, ${perHop(max.stackCpuPercent)} | ` +
        `${fmt(Math.max(max.workerPeakRssMb, fixed.workerPeakRssMb))} | ${fmt(Math.max(max.otherCpuPercent || 0, fixed.otherCpuPercent || 0))} |`,
    )
  }
  return lines.join('\n')
}

function latencyTable(rows) {
  const lines = ['| contender | workers | workload | start rate runs/s | hop p50 ms | hop p99 ms | run p50 ms | run p99 ms | lost | wrong |', '|---|---|---|---|---|---|---|---|---|---|']
  for (const r of rows) {
    const { max, fixed } = r
    lines.push(
      `| ${r.label} | ${r.workers} | ${short(r.workload)} | ${fmt(r.rate, 1)} | ${fmt(fixed.hopP50, 1)} | ${fmt(fixed.hopP99, 1)} | ${fmt(fixed.e2eP50, 0)} | ${fmt(fixed.e2eP99, 0)} | ` +
        `${max.lost + fixed.lost} | ${max.wrong + fixed.wrong} |`,
    )
  }
  return lines.join('\n')
}

function workTable(rows) {
  const lines = [
    '| contender | workers | workload | Cassandra reads | Cassandra writes | Paxos (LWT) writes | Redis scripts | Redis commands |',
    '|---|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    const ops = r.max.operationsPerHop
    if (!ops) continue
    const cells = [ops.cassandraReads, ops.cassandraWrites, ops.lwtWrites, ops.redisScripts, ops.redisCommands].map((v) => fmt(v, 2))
    lines.push(`| ${r.label} | ${r.workers} | ${short(r.workload)} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

function find(rows, contender, workers, workload) {
  return rows.find((r) => r.contender === contender && r.workers === workers && r.workload === workload)
}

// Each target, per workload (and worker count where it applies): the figure, the goal, met or not.
function evaluateTargets(rows, options = {}) {
  const checks = []
  const unloaded = options.rate !== undefined && options.rate !== null && options.rate <= TARGETS.unloadedRate
  for (const addon of rows.filter((r) => r.contender === 'addon' || r.contender === 'addon-txn')) {
    const transactional = addon.contender === 'addon-txn'
    const reference = find(rows, 'reference', addon.workers, addon.workload)
    const floor = find(rows, transactional ? 'floor-txn' : 'floor', addon.workers, addon.workload)
    const where = `${addon.label}: ${short(addon.workload)}, ${addon.workers} worker${addon.workers > 1 ? 's' : ''}`
    if (!transactional && addon.workers === 1) {
      if (reference && reference.max.hopsPerSecond) {
        const ratio = addon.max.hopsPerSecond / reference.max.hopsPerSecond
        checks.push({ target: `hops/s >= ${TARGETS.vsReference}x the reference`, where, value: `${fmt(ratio, 1)}x`, met: ratio >= TARGETS.vsReference })
      }
      if (floor && floor.max.hopsPerSecond) {
        const share = addon.max.hopsPerSecond / floor.max.hopsPerSecond
        checks.push({ target: `hops/s >= ${100 * TARGETS.ofFloor}% of the raw floor`, where, value: `${fmt(100 * share)}%`, met: share >= TARGETS.ofFloor })
      }
      const ops = addon.max.operationsPerHop
      if (ops) {
        checks.push({ target: `Cassandra reads per hop <= ${TARGETS.cassandraReads}`, where, value: fmt(ops.cassandraReads, 2), met: ops.cassandraReads <= TARGETS.cassandraReads })
        checks.push({ target: `Redis commands per hop <= ${TARGETS.redisCommands}`, where, value: fmt(ops.redisCommands, 1), met: ops.redisCommands <= TARGETS.redisCommands })
      }
      if (addon.max.hopsPerSecond) {
        const cpu = (10000 * addon.max.workerCpuPercent) / addon.max.hopsPerSecond
        checks.push({ target: `worker CPU per hop <= ${TARGETS.workerCpuUs} µs`, where, value: `${fmt(cpu)} µs`, met: cpu <= TARGETS.workerCpuUs })
      }
    }
    const { hopP50, hopP99 } = addon.fixed
    if (unloaded && addon.workers === 1) {
      if (floor && floor.fixed.hopP50 !== null) {
        const bound = floor.fixed.hopP50 + TARGETS.unloadedAboveFloorMs
        checks.push({ target: `unloaded hop p50 <= ${floor.label} + ${TARGETS.unloadedAboveFloorMs} ms`, where, value: `${fmt(hopP50, 1)} ms (bound ${fmt(bound, 1)})`, met: hopP50 !== null && hopP50 <= bound })
      }
      if (reference && reference.fixed.hopP50 !== null) {
        checks.push({ target: 'unloaded hop p50 below the reference', where, value: `${fmt(hopP50, 1)} vs ${fmt(reference.fixed.hopP50, 1)} ms`, met: hopP50 !== null && hopP50 < reference.fixed.hopP50 })
      }
    } else if (!unloaded && hopP50) {
      const ratio = hopP99 / hopP50
      checks.push({ target: `hop p99 <= ${TARGETS.p99OverP50}x hop p50 at half max`, where, value: `${fmt(hopP50, 1)} / ${fmt(hopP99, 1)} ms (${fmt(ratio, 1)}x)`, met: ratio <= TARGETS.p99OverP50 })
    }
  }
  return checks
}

function correctness(rows) {
  const byContender = new Map()
  for (const r of rows) {
    const entry = byContender.get(r.label) || { runs: 0, lost: 0, wrong: 0, reasons: new Set() }
    for (const phase of [r.max, r.fixed]) {
      entry.runs += phase.runs
      entry.lost += phase.lost
      entry.wrong += phase.wrong
      for (const reason of phase.wrongReasons) entry.reasons.add(`${short(r.workload)}: ${reason}`)
    }
    byContender.set(r.label, entry)
  }
  return [...byContender].map(([label, e]) => ({ label, runs: e.runs, lost: e.lost, wrong: e.wrong, reasons: [...e.reasons].slice(0, 6) }))
}

function markdown({ rows, options, meta, checks, runsChecked }) {
  const m = meta.machine
  const disturbed = rows.reduce((sum, r) => sum + (r.max.disturbedWindows || 0) + (r.fixed.disturbedWindows || 0), 0)
  return [
    `## Side by side (${options.quick ? 'quick' : 'full'} run, ${meta.date.slice(0, 16).replace('T', ' ')} UTC, ${meta.seconds} s)`,
    '',
    `${m.cpus} cores (${m.model}), ${m.memoryGb} GiB, Node ${meta.node}: Kafka, Cassandra, Redis, the workers and the client all on this one machine. ` +
      `Each figure is the median of ${options.reps} back-to-back ${options.quick ? 'short ' : ''}windows after a lead-in; "max" = closed loop, ` +
      `"latency rate" = runs started at a fixed rate (half of that contender's max unless --rate was given). ` +
      '"other CPU" = what else used the machine during the windows (a compile, other tests)' +
      (options.quick
        ? '.'
        : `; a window where it passed 25 % was measured again (${disturbed} such window${disturbed === 1 ? '' : 's'} in this run; after twice the windows asked for, the last ones are kept).`),
    '',
    '### Summary',
    '',
    summaryTable(rows),
    '',
    '### Throughput at max (closed loop)',
    '',
    throughputTable(rows),
    '',
    '### Latency at a fixed start rate (lost / wrong: both phases)',
    '',
    latencyTable(rows),
    '',
    '### Stack operations per hop at max (workers and client together; Redis commands include those inside scripts)',
    '',
    workTable(rows),
    '',
    '### Targets (this addon)',
    '',
    '| target | where | measured | met |',
    '|---|---|---|---|',
    ...checks.map((c) => `| ${c.target} | ${c.where} | ${c.value} | ${c.met === null ? '-' : c.met ? 'yes' : '**no**'} |`),
    '',
    '### Correctness (every run started, lead-ins included)',
    '',
    '| contender | runs | lost (not final in time) | wrong result |',
    '|---|---|---|---|',
    ...runsChecked.map((c) => `| ${c.label} | ${c.runs} | ${c.lost} | ${c.wrong}${c.reasons.length ? ` (${c.reasons.join('; ')})` : ''} |`),
    '',
  ].join('\n')
}

function writeResults({ rows, options, meta }) {
  fs.mkdirSync(options.out, { recursive: true })
  const name = options.quick ? 'quick' : 'full'
  const checks = evaluateTargets(rows, options)
  const runsChecked = correctness(rows)
  const json = path.join(options.out, `${name}.json`)
  const md = path.join(options.out, `${name}.md`)
  const svg = path.join(options.out, `${name}.svg`)
  fs.writeFileSync(json, `${JSON.stringify({ meta, options, targets: checks, correctness: runsChecked, rows }, null, 1)}\n`)
  fs.writeFileSync(md, markdown({ rows, options, meta, checks, runsChecked }))
  fs.writeFileSync(svg, renderChart(rows, `${name} run ${meta.date.slice(0, 10)}, ${meta.machine.cpus} cores, everything on one machine`))
  return [md, json, svg]
}

module.exports = { writeResults }

// `node bench/lib/report.js bench/results/full.json`: renders the .md and .svg again.
if (require.main === module) {
  const file = path.resolve(process.argv[2] || path.join(__dirname, '..', 'results', 'full.json'))
  const { rows, options, meta } = JSON.parse(fs.readFileSync(file, 'utf8'))
  console.log(writeResults({ rows, options: { ...options, out: path.dirname(file) }, meta }).join('\n'))
}
