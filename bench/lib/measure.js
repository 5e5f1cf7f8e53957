// One measurement phase against one contender: a lead-in (excluded), then several
// back-to-back windows (the repetitions), then a drain. Two ways to start runs:
//   'max'  - closed loop: `inFlight` runs outstanding, a new one as each completes;
//   'rate' - open loop: runs started at a fixed rate, whatever the completions do.
'use strict'
const { now } = require('./workloads')
const { percentile, median } = require('./stats')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// A window during which something else (a compile, other tests) used more CPU than
// this is measured again, up to `attemptsPerWindow` times as many windows in all.
const MAX_OTHER_CPU_PERCENT = 25

async function runPhase({ contender, workload, mode, inFlight, rate, leadInMs, windowMs, windows, attemptsPerWindow = 1, drainMs, meter, counters, progress }) {
  const tag = `${contender.tagPrefix}-${workload.blueprint.id}-${mode}`
  const outcomes = []
  const pending = new Set()
  const begin = now()
  const accepted = [] // { from, to, resources }
  const operations = {}
  let measuring = true
  let disturbed = 0

  const start = () => {
    const promise = contender.startRun(workload.blueprint.id, tag).then((outcome) => {
      outcomes.push(outcome)
      pending.delete(promise)
    })
    pending.add(promise)
    return promise
  }

  // Back-to-back windows with their resource use; stack operation counters over the
  // whole measured span (so they and the hop count cover the same time).
  const marking = (async () => {
    await sleep(leadInMs)
    operations.from = now()
    if (counters) operations.before = await counters.snapshot(contender.keyspace)
    const extraWindows = (attemptsPerWindow - 1) * windows
    while (accepted.length < windows) {
      const from = now()
      const mark = meter.begin()
      await sleep(windowMs)
      const resources = meter.end(mark)
      if (resources.otherCpuPercent > MAX_OTHER_CPU_PERCENT && disturbed < extraWindows) {
        disturbed++
        progress(`${mode}: window disturbed (other CPU ${Math.round(resources.otherCpuPercent)}%), measuring again`)
        continue
      }
      accepted.push({ from, to: now(), resources })
      progress(`${mode} window ${accepted.length}/${windows}`)
    }
    if (counters) operations.after = await counters.snapshot(contender.keyspace)
    operations.to = now()
    measuring = false
  })()

  if (mode === 'max') {
    // Lanes start spread over half the lead-in, so completions do not come in waves.
    const lane = async (_, i) => {
      await sleep((i * leadInMs) / 2 / inFlight)
      while (measuring) await start()
    }
    await Promise.all(Array.from({ length: inFlight }, lane))
  } else {
    const interval = 1000 / rate
    let started = 0
    while (measuring) {
      const due = Math.floor((now() - begin) / interval) + 1
      while (started < due) {
        start()
        started++
      }
      await sleep(Math.max(1, interval / 2))
    }
  }
  await marking
  // Drain: every run gets the chance to finish (each outcome has its own timeout too).
  const drained = Promise.all([...pending])
  await Promise.race([drained, sleep(drainMs)])
  const lostInDrain = pending.size
  const extra = await contender.finishPhase(tag, outcomes)
  return { ...summarize({ mode, workload, accepted, outcomes, extra, operations, lostInDrain }), disturbedWindows: disturbed }
}

function within(t, from, to) {
  return t >= from && t < to
}

// Stack operations per hop (workers and client together) over the measured windows.
function perHop(operations, hopCount) {
  if (!operations.before || !operations.after || !hopCount) return null
  return Object.fromEntries(Object.keys(operations.after).map((key) => [key, (operations.after[key] - operations.before[key]) / hopCount]))
}

function summarize({ mode, workload, accepted, outcomes, extra, operations, lostInDrain }) {
  const finished = outcomes.filter((o) => o.finished)
  const wrong = finished.filter((o) => !o.ok)
  const lost = outcomes.filter((o) => !o.finished).length + lostInDrain
  const nodeTimes = extra.nodeTimes || finished.flatMap((o) => o.nodeTimes || [])
  const hops = extra.hops || finished.flatMap((o) => o.hops || [])
  const perWindow = []
  for (const { from, to, resources } of accepted) {
    const seconds = (to - from) / 1000
    const startedHere = outcomes.filter((o) => within(o.startedAt, from, to))
    const okHere = startedHere.filter((o) => o.finished && o.ok)
    const hopLatencies = hops.filter(([t]) => within(t, from, to)).map(([, latency]) => latency)
    const e2e = okHere.filter((o) => o.publishedAt).map((o) => o.publishedAt - o.startedAt)
    perWindow.push({
      hopsPerSecond: nodeTimes.filter((t) => within(t, from, to)).length / seconds,
      runsPerSecond: finished.filter((o) => within(o.completedAt, from, to)).length / seconds,
      started: startedHere.length,
      hopP50: percentile(hopLatencies, 50),
      hopP99: percentile(hopLatencies, 99),
      e2eP50: percentile(e2e, 50),
      e2eP99: percentile(e2e, 99),
      ...resources,
    })
  }
  const med = (key) => median(perWindow.map((w) => w[key]).filter((v) => v !== null && v !== undefined))
  return {
    mode,
    workload: workload.blueprint.id,
    windows: perWindow,
    hopsPerSecond: med('hopsPerSecond'),
    runsPerSecond: med('runsPerSecond'),
    hopP50: med('hopP50'),
    hopP99: med('hopP99'),
    e2eP50: med('e2eP50'),
    e2eP99: med('e2eP99'),
    workerCpuPercent: med('workerCpuPercent'),
    clientCpuPercent: med('clientCpuPercent'),
    otherCpuPercent: Math.max(0, ...perWindow.map((w) => w.otherCpuPercent || 0)),
    stackCpuPercent: med('stackCpuPercent'),
    kafkaCpuPercent: med('kafkaCpuPercent'),
    cassandraCpuPercent: med('cassandraCpuPercent'),
    redisCpuPercent: med('redisCpuPercent'),
    workerPeakRssMb: Math.max(0, ...perWindow.map((w) => w.workerPeakRssMb || 0)),
    operationsPerHop: perHop(operations, nodeTimes.filter((t) => within(t, operations.from, operations.to)).length),
    runs: outcomes.length + lostInDrain,
    lost,
    wrong: wrong.length,
    wrongReasons: [...new Set(wrong.map((o) => o.reason))].slice(0, 5),
  }
}

module.exports = { runPhase }
