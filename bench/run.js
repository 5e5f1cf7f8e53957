// `npm run bench [-- options]`: the same workloads through the raw floor, this addon and
// @flowcraft/kafka-adapter on the same local stack, with 1 and 2 workers; writes
// bench/results/<full|quick>.{json,md,svg}. See bench/README.md. Not part of npm test.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { checkConnectivity } = require('..')
const { runPhase } = require('./lib/measure')
const { ResourceMeter, findStackProcesses } = require('./lib/proc-stats')
const { stack, importReference, REFERENCE_DIR } = require('./lib/stack-config')
const { WORKLOADS } = require('./lib/workloads')
const { writeResults } = require('./lib/report')

const HELP = `usage: npm run bench -- [options]
  --quick                  short windows (finishes in under 3 minutes)
  --contenders LIST        default floor,floor-txn,addon,reference (quick: no floor-txn);
                           floor-txn = the raw floor committing in Kafka transactions;
                           addon-txn = the addon with delivery: 'transactional';
                           addon-push = the addon, completion pushed by run:finish events
  --workers LIST           worker counts, default 1,2
  --workloads LIST         dag10,fanout40,chain20 (default: all)
  --reps N                 repetitions (back-to-back windows) per figure, default 3
  --window-seconds S       length of one max-throughput repetition (full 5, quick 0.75)
  --lead-in-seconds S      excluded start of every phase (full 2, quick 0.4)
  --rate R                 fixed start rate in runs/s for the latency phase
                           (default: half of each contender's own max throughput)
  --runs N                 runs per latency repetition (window = N / rate); default: by time
  --in-flight N            runs outstanding in the max-throughput phase (default per workload)
  --addon-options JSON     extra KafkaAdapter options for the addon's workers (tuning)
  --run-timeout-seconds S  a run not final after this is counted lost (full 60, quick 20)
  --out DIR                where results go, default bench/results`

function parseOptions(argv) {
  const args = new Map()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--help' || arg === '-h') {
      console.log(HELP)
      process.exit(0)
    }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}\n${HELP}`)
    const [key, inline] = arg.slice(2).split('=')
    if (key === 'quick') args.set(key, true)
    else args.set(key, inline !== undefined ? inline : argv[++i])
  }
  const quick = args.get('quick') === true
  const list = (key, fallback) => (args.has(key) ? String(args.get(key)).split(',').filter(Boolean) : fallback)
  const number = (key, fallback) => (args.has(key) ? Number(args.get(key)) : fallback)
  const options = {
    quick,
    contenders: list('contenders', quick ? ['floor', 'addon', 'addon-txn', 'reference'] : ['floor', 'floor-txn', 'addon', 'addon-txn', 'reference']),
    workers: list('workers', ['1', '2']).map(Number),
    workloads: list('workloads', ['dag10', 'fanout40', 'chain20']),
    reps: number('reps', 3),
    windowMs: 1000 * number('window-seconds', quick ? 0.75 : 5),
    leadInMs: 1000 * number('lead-in-seconds', quick ? 0.4 : 2),
    rate: args.has('rate') ? number('rate') : null,
    runs: args.has('runs') ? number('runs') : null,
    inFlight: args.has('in-flight') ? number('in-flight') : null,
    runTimeoutMs: 1000 * number('run-timeout-seconds', quick ? 20 : 60),
    addonOptions: args.has('addon-options') ? JSON.parse(args.get('addon-options')) : {},
    warmUpMs: quick ? 0 : 2000,
    out: path.resolve(args.get('out') || path.join(__dirname, 'results')),
  }
  for (const c of options.contenders) if (!['floor', 'floor-txn', 'addon', 'addon-txn', 'addon-push', 'reference'].includes(c)) throw new Error(`unknown contender ${c}`)
  for (const w of options.workloads) if (!WORKLOADS.some((x) => x.blueprint.id === `bench-${w}`)) throw new Error(`unknown workload ${w}`)
  if (options.reps < 1 || options.windowMs <= 0) throw new Error('--reps and --window-seconds must be positive')
  return options
}

const started = Date.now()
// kafkajs (the reference's client) warns about its v2 partitioner change on every producer.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s`
const interactive = process.stdout.isTTY
let statusShown = false
function log(message) {
  if (statusShown) process.stdout.write('\r\x1b[K')
  statusShown = false
  console.log(`[bench ${elapsed()}] ${message}`)
}
function status(message) {
  if (!interactive) return
  process.stdout.write(`\r\x1b[K[bench ${elapsed()}] ${message}`)
  statusShown = true
}

// The reference adapter and its clients live in bench/reference, installed on first use.
function ensureReferenceInstalled() {
  if (fs.existsSync(path.join(REFERENCE_DIR, 'node_modules', '@flowcraft', 'kafka-adapter', 'package.json'))) return
  log('installing @flowcraft/kafka-adapter and its clients into bench/reference...')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['install', '--prefix', REFERENCE_DIR, '--no-audit', '--no-fund'], { stdio: 'inherit' })
  if (result.status !== 0) throw new Error('npm install in bench/reference failed')
}

async function ensureStack() {
  try {
    await checkConnectivity({
      kafka: { brokers: stack.brokers, clientId: 'bench-check', connectTimeoutMs: 15000 },
      cassandra: { contactPoints: stack.contactPoints, localDataCenter: stack.localDataCenter, connectTimeoutMs: 5000 },
      redis: { url: stack.redisUrl, connectTimeoutMs: 5000 },
      kafkaProbeTopic: 'bench-probe',
    })
  } catch (error) {
    throw new Error(`the stack does not answer (${error.code}: ${error.message}); start it with: bash stack/stack.sh up`)
  }
}

// Closed-loop outstanding runs per worker, per workload: past the point where more
// in flight stopped adding throughput for the addon and the raw floor on the 2-core box.
const IN_FLIGHT_PER_WORKER = { 'bench-dag10': 128, 'bench-fanout40': 32, 'bench-chain20': 128 }

function makeContender(name, options, session) {
  const inFlightFor = (workload) => options.inFlight || IN_FLIGHT_PER_WORKER[workload.blueprint.id]
  const common = { session, runTimeoutMs: options.runTimeoutMs, inFlightFor, log }
  if (name === 'addon' || name === 'addon-push' || name === 'addon-txn') {
    const delivery = name === 'addon-txn' ? { delivery: 'transactional' } : {}
    return require('./contenders/addon').create({
      ...common,
      extraOptions: { ...delivery, ...options.addonOptions },
      push: name === 'addon-push',
      variant: name,
    })
  }
  if (name === 'floor' || name === 'floor-txn') return require('./contenders/raw-floor').create({ ...common, transactional: name === 'floor-txn' })
  return require('./contenders/reference').create({ ...common, inFlightPerWorker: options.inFlight || 4 })
}

async function measureContender(contender, workers, workloads, options, stackPids, counters) {
  log(`${contender.label}, ${workers} worker${workers > 1 ? 's' : ''}: starting...`)
  const workerPids = await contender.setUp(workers)
  const services = Object.fromEntries(Object.entries(stackPids).map(([name, pid]) => [name, [pid]]))
  const meter = new ResourceMeter({ workers: workerPids, client: contender.clientPids(), ...services })
  const rows = []
  const phaseSettings = {
    ...{ contender, meter, counters, leadInMs: options.leadInMs, windows: options.reps, drainMs: options.runTimeoutMs + 5000 },
    // The full run measures a disturbed window again; --quick keeps its time bound.
    attemptsPerWindow: options.quick ? 1 : 2,
  }
  try {
    for (const workload of workloads) {
      const name = `${contender.tagPrefix} ${workload.blueprint.id.replace('bench-', '')}`
      const progress = (step) => status(`${name}: ${step}`)
      const inFlight = contender.inFlight(workload, workers)
      if (options.warmUpMs) {
        progress('warm-up')
        await runPhase({ ...phaseSettings, workload, mode: 'max', inFlight, leadInMs: options.warmUpMs, windowMs: 1, windows: 1, progress: () => {} })
      }
      const max = await runPhase({ ...phaseSettings, workload, mode: 'max', inFlight, windowMs: options.windowMs, progress })
      // Latency at a fixed, moderate start rate: half of this contender's own max.
      const nodesPerRun = workload.blueprint.nodes.length
      const rate = options.rate || Math.max(0.5, (0.5 * max.hopsPerSecond) / nodesPerRun)
      const windowMs = options.runs ? (1000 * options.runs) / rate : options.windowMs
      const fixed = await runPhase({ ...phaseSettings, workload, mode: 'rate', rate, windowMs, progress })
      log(
        `${name}: ${fmt(max.hopsPerSecond)} hops/s, ${fmt(max.runsPerSecond, 1)} runs/s at max; at ${fmt(rate, 1)} runs/s ` +
          `hop p50 ${fmt(fixed.hopP50, 1)} / p99 ${fmt(fixed.hopP99, 1)} ms, run p50 ${fmt(fixed.e2eP50, 0)} ms` +
          `${max.lost + fixed.lost ? `, LOST ${max.lost + fixed.lost}` : ''}${max.wrong + fixed.wrong ? `, WRONG ${max.wrong + fixed.wrong}` : ''}` +
          `${max.disturbedWindows + fixed.disturbedWindows ? ` (${max.disturbedWindows + fixed.disturbedWindows} disturbed windows measured again)` : ''}`,
      )
      if (max.lost + fixed.lost) {
        for (const p of contender.processes()) if (p.stderrTail().trim()) log(`${p.name} stderr:\n${p.stderrTail()}`)
      }
      rows.push({ contender: contender.name, label: contender.label, workers, workload: workload.blueprint.id, workloadLabel: workload.label, nodesPerRun, inFlight, rate, max, fixed })
    }
  } finally {
    const topics = await contender.tearDown().catch((error) => {
      log(`tear-down of ${contender.label} failed: ${error.message}`)
      return []
    })
    const admin = await importReference('admin.mjs')
    await admin.deleteTopics(stack.brokers, topics).catch(() => {})
  }
  return rows
}

function fmt(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return 'n/a'
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

async function main() {
  const options = parseOptions(process.argv.slice(2))
  const session = Date.now().toString(36)
  log(`${options.quick ? 'quick' : 'full'} run ${session}: ${options.contenders.join(', ')} x ${options.workers.join('/')} worker(s) x ${options.workloads.join(', ')}`)
  ensureReferenceInstalled()
  await ensureStack()
  if (options.contenders.some((c) => c.startsWith('floor'))) require('./contenders/raw-floor').ensureBuilt(log)
  const stackPids = findStackProcesses()
  const workloads = options.workloads.map((w) => WORKLOADS.find((x) => x.blueprint.id === `bench-${w}`))
  const counters = await (await importReference('counters.mjs')).openCounters(stack)
  const rows = []
  for (const name of options.contenders) {
    for (const workers of options.workers) {
      rows.push(...(await measureContender(makeContender(name, options, session), workers, workloads, options, stackPids, counters)))
    }
  }
  await counters.close()
  const files = writeResults({
    rows,
    options,
    meta: {
      session,
      date: new Date().toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      machine: { cpus: os.cpus().length, model: (os.cpus()[0] || {}).model, memoryGb: Math.round(os.totalmem() / 2 ** 30), loadAverageAtEnd: os.loadavg() },
      node: process.version,
      stackServices: Object.keys(stackPids),
    },
  })
  log(`done in ${elapsed().trim()}; results: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`)
  console.log(`\n${fs.readFileSync(files.find((f) => f.endsWith('.md')), 'utf8')}`)
}

main().then(
  () => process.exit(process.exitCode || 0),
  (error) => {
    log(`failed: ${error.stack || error.message}`)
    process.exit(1)
  },
)
