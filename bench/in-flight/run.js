// Worker memory with many runs in flight (not a test): one addon worker holds 10,000,
// then 20,000, then 30,000 runs of the 10-node DAG whose last branch is a durable
// `sleep`, so every run waits at its join with nothing running. The worker's RSS is read
// at each step, once every run started so far is parked; then the sleeps fire and every
// run must complete with the right result. Past the owner's copy bound (20,000 runs) the
// RSS must stop growing with the runs.
//
//   node bench/in-flight/run.js [--steps 10000,20000,30000] [--delivery at-least-once|transactional]
//
// Needs the local stack (bash stack/stack.sh up). Writes bench/results/in-flight.{json,md}.
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { KafkaAdapter, RedisCoordinationStore } = require('../..')
const { LineProcess, waitForSettledGroup } = require('../lib/processes')
const { readProcess } = require('../lib/proc-stats')
const { stack, namesFor, importReference, addonAdapterOptions } = require('../lib/stack-config')
const { blueprints, registry, parkedDag10 } = require('../lib/workloads')

const args = process.argv.slice(2)
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const STEPS = String(arg('steps', '10000,20000,30000')).split(',').map(Number)
const DELIVERY = arg('delivery', 'at-least-once')
const OUT = path.resolve(arg('out', path.join(__dirname, '..', 'results')))
const TARGET_RSS_MB = 150
// JS node calls of a parked run (start, three branches) and of its rest (join, tail of 4).
const CALLS_PARKED = 4
const CALLS_AFTER_WAKE = 5
const PILOT_RUNS = 1000

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const started = Date.now()
const log = (message) => console.log(`[in-flight ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}`)

// RSS and peak RSS (MB) of a live process, read from /proc.
function memoryOf(pid) {
  const stats = readProcess(pid)
  if (!stats) throw new Error(`process ${pid} is gone`)
  return stats
}

const session = `inflight-${Date.now().toString(36)}`
const names = namesFor('addon', session, 1)
const timerTopics = { schedulesTopic: `${names.topicName}-schedules`, schedulesHistoryTopic: `${names.topicName}-schedules-history` }
const adapterOptions = (clientId) => ({ ...addonAdapterOptions(names, clientId), delivery: DELIVERY, ...timerTopics })

async function startWorker(extra) {
  const settings = { ...adapterOptions(`${names.clientId}-worker`), redisUrl: stack.redisUrl, countCalls: true, ...extra }
  // BENCH_WORKER_PREFIX (e.g. "heaptrack -o /tmp/worker"): a profiler to run the parked
  // worker under (its RSS figures are then the profiler's; stop it by hand if it lingers).
  const prefix = extra.parkedSleepMs ? (process.env.BENCH_WORKER_PREFIX || '').split(' ').filter(Boolean) : []
  const command = [...prefix, process.execPath, path.join(__dirname, '..', 'contenders', 'addon-worker.js')]
  const worker = new LineProcess('addon worker', command[0], command.slice(1), {
    env: { BENCH_SETTINGS: JSON.stringify(settings) },
  })
  worker.calls = 0
  worker.onLine((line) => {
    if (line.startsWith('CALLS ')) worker.calls = Number(line.slice(6))
  })
  await waitForSettledGroup([worker], stack.partitions)
  return worker
}

// Waits until the worker made `calls` node calls and then made none for a second.
async function waitForCalls(worker, calls, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  let last = -1
  let quietSince = Date.now()
  for (;;) {
    if (worker.calls !== last) {
      last = worker.calls
      quietSince = Date.now()
    }
    if (worker.calls >= calls && Date.now() - quietSince >= 1000) return
    if (Date.now() > deadline) throw new Error(`the worker made ${worker.calls} of ${calls} node calls within ${timeoutMs} ms\n${worker.stderrTail()}`)
    await sleep(100)
  }
}

// Starts `count` runs, `lanes` at a time; returns their ids.
async function startRuns(client, blueprintId, count, lanes = 64) {
  const ids = []
  let next = 0
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < count) {
        next++
        ids.push(await client.startRun(blueprintId, {}))
      }
    }),
  )
  return ids
}

function checkRun(result) {
  if (result.status !== 'completed') return `${result.status}: ${result.reason}`
  const join = result.context['_outputs.join']
  const last = result.context['_outputs.after_4']
  if (!join || join.arrived !== 4) return `join saw ${join && join.arrived} of 4 branches`
  if (!last || last.n !== 7) return `terminal n = ${last && last.n}, expected 7`
  return null
}

async function main() {
  const total = STEPS[STEPS.length - 1]
  log(`session ${session}, delivery ${DELIVERY}, steps ${STEPS.join(' / ')} runs in flight`)

  // Pilot: how fast this worker parks runs, so the sleeps outlast the filling.
  let worker = await startWorker({})
  let client = new KafkaAdapter({
    ...adapterOptions(`${names.clientId}-client`),
    worker: false,
    runtimeOptions: { blueprints, registry },
    coordinationStore: new RedisCoordinationStore({ url: stack.redisUrl }),
  })
  await client.start()
  const pilotStart = Date.now()
  const pilot = await client.runMany('bench-dag10', Array.from({ length: PILOT_RUNS }, () => ({})), { concurrency: 128 })
  const pilotSeconds = (Date.now() - pilotStart) / 1000
  const pilotBad = pilot.filter((r) => r.status !== 'completed').length
  if (pilotBad) throw new Error(`${pilotBad} of ${PILOT_RUNS} pilot runs did not complete`)
  const hopsPerSecond = (PILOT_RUNS * 10) / pilotSeconds
  // A parked run is 5 jobs (start, 3 branches, the sleep); margin for a slower fill.
  const fillSeconds = (total * 5) / hopsPerSecond
  const sleepMs = Math.round((1.5 * fillSeconds + 30) * 1000)
  log(`pilot: ${PILOT_RUNS} dag10 runs in ${pilotSeconds.toFixed(1)} s (${Math.round(hopsPerSecond)} hops/s); sleep ${Math.round(sleepMs / 1000)} s`)
  await client.stop()
  await worker.stop()

  worker = await startWorker({ parkedSleepMs: sleepMs })
  const parkedBlueprints = { ...blueprints, 'bench-dag10-parked': parkedDag10(sleepMs) }
  client = new KafkaAdapter({
    ...adapterOptions(`${names.clientId}-client`),
    worker: false,
    runtimeOptions: { blueprints: parkedBlueprints, registry },
    coordinationStore: new RedisCoordinationStore({ url: stack.redisUrl }),
  })
  await client.start()
  // Warm the new worker (connections, JIT, allocator) before the baseline.
  await client.runMany('bench-dag10', Array.from({ length: 200 }, () => ({})), { concurrency: 64 })
  await waitForCalls(worker, 200 * 10, 30000)
  const baseCalls = worker.calls
  const baselineMb = memoryOf(worker.pid).rssMb
  log(`worker RSS idle after warm-up: ${baselineMb.toFixed(1)} MB`)

  const rows = []
  const runIds = []
  const fillStart = Date.now()
  for (const target of STEPS) {
    runIds.push(...(await startRuns(client, 'bench-dag10-parked', target - runIds.length)))
    await waitForCalls(worker, baseCalls + CALLS_PARKED * target, 600000)
    await sleep(2000) // the sleep jobs are the last of each run's parked jobs
    const mb = memoryOf(worker.pid).rssMb
    const perRunKb = ((mb - baselineMb) * 1024) / target
    rows.push({ inFlight: target, rssMb: mb, perRunKb, secondsSinceFill: (Date.now() - fillStart) / 1000 })
    log(`${target.toLocaleString('en-US')} runs in flight: worker RSS ${mb.toFixed(1)} MB (${perRunKb.toFixed(2)} KB per run over idle)`)
  }
  const parkedBy = (Date.now() - fillStart) / 1000
  if (parkedBy * 1000 > sleepMs) log(`WARNING: filling took ${parkedBy.toFixed(0)} s, longer than the sleep: early runs woke before the last step`)

  log(`waiting for the sleeps to fire and all ${total.toLocaleString('en-US')} runs to complete...`)
  const results = await Promise.all(runIds.map((id) => client.waitForRun(id, { timeoutMs: sleepMs + 600000 }).catch((error) => ({ status: 'lost', reason: error.message }))))
  const problems = results.map(checkRun).filter(Boolean)
  await waitForCalls(worker, baseCalls + (CALLS_PARKED + CALLS_AFTER_WAKE) * total, 60000).catch(() => {})
  const { rssMb: afterMb, peakRssMb: peakMb } = memoryOf(worker.pid)
  log(`${total - problems.length} of ${total} runs completed correctly${problems.length ? ` (first problem: ${problems[0]})` : ''}; worker RSS after: ${afterMb.toFixed(1)} MB, peak ${peakMb.toFixed(1)} MB; node calls ${worker.calls - baseCalls} (expected ${(CALLS_PARKED + CALLS_AFTER_WAKE) * total})`)

  await client.stop().catch(() => {})
  await worker.stop()
  const admin = await importReference('admin.mjs')
  await admin.deleteTopics(stack.brokers, [names.topicName, names.errorTopic, timerTopics.schedulesTopic, timerTopics.schedulesHistoryTopic]).catch(() => {})

  const result = {
    date: new Date().toISOString(),
    delivery: DELIVERY,
    pilotHopsPerSecond: Math.round(hopsPerSecond),
    sleepMs,
    baselineMb,
    rows,
    peakMb,
    afterMb,
    runs: total,
    completedCorrectly: total - problems.length,
    problems: problems.slice(0, 10),
    nodeCalls: worker.calls - baseCalls,
    expectedNodeCalls: (CALLS_PARKED + CALLS_AFTER_WAKE) * total,
    seconds: Math.round((Date.now() - started) / 1000),
  }
  fs.mkdirSync(OUT, { recursive: true })
  const base = path.join(OUT, DELIVERY === 'at-least-once' ? 'in-flight' : `in-flight-${DELIVERY}`)
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`)
  const md = [
    `# Worker RSS with runs in flight (${result.date.slice(0, 10)}, delivery ${DELIVERY})`,
    '',
    `\`node bench/in-flight/run.js --steps ${STEPS.join(',')}${DELIVERY === 'at-least-once' ? '' : ` --delivery ${DELIVERY}`}\`: one worker, dag10 runs whose 4th branch sleeps ${Math.round(sleepMs / 1000)} s, so each waits at its join. Idle RSS after warm-up ${baselineMb.toFixed(1)} MB.`,
    '',
    '| runs in flight | worker RSS | per run over idle | target |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.inFlight.toLocaleString('en-US')} | ${r.rssMb.toFixed(1)} MB | ${r.perRunKb.toFixed(2)} KB | ${r.inFlight === 10000 ? `<= ${TARGET_RSS_MB} MB: ${r.rssMb <= TARGET_RSS_MB ? 'met' : 'NOT met'}` : ''} |`),
    '',
    `Then every sleep fired: ${result.completedCorrectly.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} runs completed with the right result; node calls ${result.nodeCalls.toLocaleString('en-US')} of ${result.expectedNodeCalls.toLocaleString('en-US')}; peak RSS ${peakMb.toFixed(1)} MB, ${afterMb.toFixed(1)} MB after. ${result.seconds} s in all.`,
    '',
  ].join('\n')
  fs.writeFileSync(`${base}.md`, md)
  console.log(`\n${md}`)
  if (problems.length) process.exitCode = 1
}

main().then(
  () => process.exit(process.exitCode || 0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
