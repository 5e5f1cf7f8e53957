// Crash test (not a unit test): N runs of a 10-node DAG on worker processes, one of them
// killed with SIGKILL at random every ~3 s and restarted, a reconciler running in each.
//
//   node bench/crash/run.js [--runs 1000] [--rate 50] [--workers 2] [--kill-every-ms 3000]
//                           [--min-kills 0] [--restart kafka|cassandra|redis] [--restart-at-ms 5000]
//                           [--restart-pause-ms 0] [--run-timeout-ms 600000] [--json file]
//                           [--delivery at-least-once|transactional] [--reruns-per-kill 1]
//
// Runs are started at --rate runs/s (0: all at once), so kills land while work is going on.
// --kill-every-ms 0 kills nothing. --min-kills K kills a worker at K evenly spaced points
// of the start phase when the random kills have not reached that many yet, so a short run
// cannot end without a crash. --restart SERVICE restarts that service of the local stack
// (`bash stack/stack.sh restart SERVICE`: graceful stop, start on the same data) at
// --restart-at-ms after the first run was started (keeping it stopped --restart-pause-ms
// longer than the restart itself takes), while runs go on; starting and awaiting runs retry
// through the outage. Workers that exit on their own are reported and respawned.
//
// Reports runs completed / N, duplicate recorded outputs and duplicate successor job
// messages (both must be 0), JS node bodies run more than once (at most the number of
// kills times --reruns-per-kill, unless a service was restarted), context keys lost
// (must be 0), the time to drain and each run's time from start to result; with --restart, how long the service was down
// and the errors the client retried through. Exits 1 when a "must" fails. Needs the local
// stack (npm run stack:up). CRASH_TEST_QUIET=1 keeps the workers' stderr out of the output
// (it is summarised in the figures); CRASH_TEST_DEBUG=1 has workers print their partitions.
'use strict'
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { Kafka, logLevel } = require('kafkajs')
const { KafkaAdapter, RedisCoordinationStore } = require('../..')
const { adapterOptions } = require('../../examples/stack-settings')
const workflow = require('./workflow')

const args = process.argv.slice(2)
const option = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback)
const RUNS = Number(option('runs', 1000))
const WORKERS = Number(option('workers', 2))
const KILL_EVERY_MS = Number(option('kill-every-ms', 3000))
const MIN_KILLS = Number(option('min-kills', 0))
const RATE = Number(option('rate', 50))
const JSON_OUT = option('json', null)
const RESTART = option('restart', null)
const RESTART_AT_MS = Number(option('restart-at-ms', 5000))
const RESTART_PAUSE_MS = Number(option('restart-pause-ms', 0))
const RUN_TIMEOUT_MS = Number(option('run-timeout-ms', 600000))
const DELIVERY = option('delivery', 'at-least-once')
const RERUNS_PER_KILL = Number(option('reruns-per-kill', 1))
if (RESTART !== null && !['kafka', 'cassandra', 'redis'].includes(RESTART)) {
  process.stderr.write(`--restart takes kafka, cassandra or redis (got ${RESTART})\n`)
  process.exit(2)
}
for (const [name, value] of Object.entries({ RUNS, WORKERS, KILL_EVERY_MS, MIN_KILLS, RATE, RESTART_AT_MS, RESTART_PAUSE_MS, RUN_TIMEOUT_MS })) {
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`bad option value: ${name} = ${value}\n`)
    process.exit(2)
  }
}
const STACK_SH = path.join(__dirname, '..', '..', 'stack', 'stack.sh')
const REDIS_URL = process.env.FLOWCRAFT_REDIS_URL || 'redis://127.0.0.1:6379'
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const suffix = Date.now().toString(36)
const settings = {
  ...adapterOptions(`crash-${suffix}`),
  keyspace: 'flowcraft_crash',
  statusTableName: `status_${suffix}`,
  topicName: `crash-jobs-${suffix}`,
  groupId: `crash-workers-${suffix}`,
  errorTopic: `crash-errors-${suffix}`,
  schedulesTopic: `crash-schedules-${suffix}`,
  schedulesHistoryTopic: `crash-schedules-history-${suffix}`,
  delivery: DELIVERY,
}

/** Workers that exited without being killed or stopped by us: `{ slot, code, signal, atSeconds, stderr }`. */
const unexpectedExits = []
/** Worker stderr lines (prefixed with the slot), all of them, for the report's error summary. */
const workerStderr = []
let t0 = Date.now()
const now = () => (Date.now() - t0) / 1000

function spawnWorker(slot, lines) {
  const child = spawn(process.execPath, [path.join(__dirname, 'worker.js')], {
    env: {
      ...process.env,
      CRASH_TEST_WORKER: JSON.stringify({
        adapter: { ...settings, transactionalId: `crash-${suffix}-w${slot}` },
        redisUrl: REDIS_URL,
        stalledThresholdSeconds: 20,
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let buffered = ''
  const worker = { child, ready: false, expectedExit: false, stderr: [] }
  worker.exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      if (!worker.expectedExit) {
        unexpectedExits.push({ slot, code, signal, atSeconds: now(), stderr: worker.stderr.slice(-5) })
        process.stderr.write(`[crash test] worker ${slot} exited on its own at ${now().toFixed(1)} s (code ${code}, signal ${signal})\n`)
      }
      resolve(code)
    }),
  )
  let errBuffered = ''
  child.stderr.on('data', (chunk) => {
    errBuffered += chunk.toString()
    const parts = errBuffered.split('\n')
    errBuffered = parts.pop()
    for (const line of parts) {
      const stamped = `[w${slot} ${now().toFixed(1)}s] ${line}`
      worker.stderr.push(stamped)
      workerStderr.push(stamped)
      if (process.env.CRASH_TEST_QUIET !== '1') process.stderr.write(`${stamped}\n`)
    }
  })
  child.stdout.on('data', (chunk) => {
    buffered += chunk.toString()
    const parts = buffered.split('\n')
    buffered = parts.pop()
    for (const line of parts) {
      if (line === 'READY') worker.ready = true
      else lines.push(line)
    }
  })
  return worker
}

async function untilReady(worker) {
  const deadline = Date.now() + 60000
  while (!worker.ready) {
    if (Date.now() > deadline || worker.child.exitCode !== null) throw new Error('a worker did not start')
    await sleep(20)
  }
}

/** Job ids per `<runId> <nodeId>` on the jobs topic (read_committed, like the workers), with
 * how many messages carried each. */
async function jobMessages(topic) {
  const kafka = new Kafka({ clientId: `crash-reader-${suffix}`, brokers: settings.kafka.brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const ends = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const consumer = kafka.consumer({ groupId: `crash-reader-${suffix}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const counts = new Map()
  const reached = new Map()
  await new Promise((resolve) => {
    // Normally done when every partition is read to its end; a partition whose tail is an
    // aborted transaction never gets there, so also stop after 5 s without a message.
    const timer = setTimeout(resolve, 60000)
    let idle = setTimeout(resolve, 20000)
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        clearTimeout(idle)
        idle = setTimeout(resolve, 5000)
        const job = JSON.parse(message.value.toString())
        const key = `${job.runId} ${job.nodeId}`
        const ids = counts.get(key) ?? new Map()
        ids.set(job.jobId, (ids.get(job.jobId) ?? 0) + 1)
        counts.set(key, ids)
        reached.set(partition, Number(message.offset) + 1)
        const done = ends.every((e) => Number(e.high) <= (reached.get(e.partition) ?? 0) + 1 || Number(e.high) === 0)
        if (done) {
          clearTimeout(timer)
          clearTimeout(idle)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
  return counts
}

function percentiles(values) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] }
}

/** Distinct worker stderr messages (slot and time stripped, digits folded), most frequent first. */
function summarise(stderrLines) {
  const counts = new Map()
  for (const line of stderrLines) {
    const text = line.replace(/^\[w\d+ [\d.]+s\] /, '').replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>').replace(/\d+/g, 'N').slice(0, 240)
    counts.set(text, (counts.get(text) ?? 0) + 1)
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([text, n]) => `${n}x ${text}`)
}

function perKey(lines, prefix) {
  const counts = new Map()
  for (const line of lines) {
    if (!line.startsWith(prefix)) continue
    const [, runId, nodeId] = line.split(' ')
    const key = `${runId} ${nodeId}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

/** `bash stack/stack.sh restart SERVICE`; resolves with its timings. */
function restartService(service, pauseMs) {
  return new Promise((resolve) => {
    const begun = Date.now()
    const child = spawn('bash', [STACK_SH, 'restart', service, `${pauseMs / 1000}`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk.toString()))
    child.stderr.on('data', (chunk) => (output += chunk.toString()))
    child.on('exit', (code) => {
      const wallSeconds = (Date.now() - begun) / 1000
      const m = /restarted, down ([\d.]+)s \(stop ([\d.]+)s, start until answering ([\d.]+)s\)/.exec(output)
      resolve({
        ok: code === 0,
        wallSeconds,
        downSeconds: m ? Number(m[1]) : wallSeconds,
        stopSeconds: m ? Number(m[2]) : null,
        startSeconds: m ? Number(m[3]) : null,
        output: output.trim().split('\n'),
      })
    })
  })
}

/** Errors the client saw and retried through (code: count), plus the first text of each. */
const clientErrors = new Map()
function noteClientError(where, error) {
  const key = `${where} ${error.code ?? 'no code'}`
  const seen = clientErrors.get(key) ?? { count: 0, first: String(error.message).slice(0, 300) }
  seen.count += 1
  clientErrors.set(key, seen)
}

/** startRun, retried while the stack is away (up to 2 minutes). */
async function startRun(client) {
  const deadline = Date.now() + 120000
  for (;;) {
    try {
      return await client.startRun('crash-dag')
    } catch (error) {
      noteClientError('startRun', error)
      if (Date.now() > deadline) throw error
      await sleep(500)
    }
  }
}

/** waitForRun until the run is final or RUN_TIMEOUT_MS passed; infrastructure errors are retried. */
async function awaitRun(client, runId) {
  const deadline = Date.now() + RUN_TIMEOUT_MS
  for (;;) {
    try {
      return await client.waitForRun(runId, { timeoutMs: Math.max(1, deadline - Date.now()) })
    } catch (error) {
      if (error.code !== 'ERR_WAIT_TIMEOUT') noteClientError('waitForRun', error)
      if (error.code === 'ERR_WAIT_TIMEOUT' || Date.now() > deadline) return { runId, status: 'lost', reason: error.message }
      await sleep(500)
    }
  }
}

async function main() {
  const lines = []
  const workers = Array.from({ length: WORKERS }, (_, slot) => spawnWorker(slot, lines))
  for (const worker of workers) await untilReady(worker)
  const client = new KafkaAdapter({
    ...settings,
    runtimeOptions: { blueprints: workflow.blueprints, registry: workflow.registry },
    coordinationStore: new RedisCoordinationStore({ url: REDIS_URL }),
    worker: false,
  })
  await client.start()
  process.stdout.write(
    `crash test: ${RUNS} runs at ${RATE || 'max'} runs/s on ${WORKERS} workers, ` +
      `${KILL_EVERY_MS > 0 ? `one killed every ~${KILL_EVERY_MS} ms` : 'no kills'}` +
      `${MIN_KILLS > 0 ? ` (at least ${MIN_KILLS})` : ''}` +
      `${RESTART ? `, ${RESTART} restarted at ${RESTART_AT_MS} ms` : ''}\n`,
  )
  const started = Date.now()
  t0 = started
  let kills = 0
  let draining = true

  // One kill at a time (the random loop and the --min-kills points share it).
  let killing = Promise.resolve()
  let killsAsked = 0
  const killOne = () => {
    killsAsked += 1
    killing = killing.then(async () => {
      const slot = Math.floor(Math.random() * WORKERS)
      workers[slot].expectedExit = true
      workers[slot].child.kill('SIGKILL')
      await workers[slot].exited
      kills += 1
      workers[slot] = spawnWorker(slot, lines)
    })
    return killing
  }
  const killer = (async () => {
    if (!(KILL_EVERY_MS > 0)) return
    while (draining) {
      await sleep(KILL_EVERY_MS * (0.5 + Math.random()))
      if (!draining) break
      await killOne()
    }
  })()
  // A worker that exits on its own (not killed by us) is replaced, as a supervisor would.
  const supervisor = setInterval(() => {
    if (!draining) return
    workers.forEach((worker, slot) => {
      if (worker.child.exitCode !== null || worker.child.signalCode !== null) {
        if (!worker.expectedExit && !worker.replaced) {
          worker.replaced = true
          workers[slot] = spawnWorker(slot, lines)
        }
      }
    })
  }, 500)

  let restart = null
  const restartDone = RESTART
    ? (async () => {
        await sleep(Math.max(0, started + RESTART_AT_MS - Date.now()))
        const at = now()
        process.stdout.write(`  restarting ${RESTART} at ${at.toFixed(1)} s\n`)
        const outcome = await restartService(RESTART, RESTART_PAUSE_MS)
        restart = { ...outcome, atSeconds: at }
        process.stdout.write(
          `  ${RESTART} ${outcome.ok ? 'back' : 'FAILED to restart'} at ${now().toFixed(1)} s (down ${outcome.downSeconds} s)\n`,
        )
        if (!outcome.ok) process.stderr.write(`${outcome.output.join('\n')}\n`)
      })()
    : Promise.resolve()

  const progress = setInterval(() => {
    const done = new Set(lines.filter((l) => l.startsWith('FINISH ') && l.endsWith(' done')).map((l) => l.split(' ')[1])).size
    process.stdout.write(`  ${now().toFixed(0)} s: ${done}/${RUNS} runs done, ${kills} kills\n`)
  }, 5000)

  const runIds = []
  const startedAt = new Map()
  const finishedAt = new Map()
  const waits = []
  const step = RATE > 0 ? Math.max(1, Math.round(RATE / 10)) : 50
  const killPoints = Array.from({ length: KILL_EVERY_MS > 0 ? MIN_KILLS : 0 }, (_, k) => Math.floor(((k + 1) * RUNS) / (MIN_KILLS + 1)))
  for (let i = 0; i < RUNS; i += step) {
    const batch = Array.from({ length: Math.min(step, RUNS - i) }, () => startRun(client))
    const ids = await Promise.all(batch)
    for (const runId of ids) {
      startedAt.set(runId, Date.now())
      waits.push(
        awaitRun(client, runId).then((result) => {
          finishedAt.set(runId, Date.now())
          return result
        }),
      )
    }
    runIds.push(...ids)
    const due = killPoints.filter((point) => point <= i + step).length
    if (killsAsked < due) void killOne()
    if (RATE > 0) await sleep(Math.max(0, started + ((i + step) * 1000) / RATE - Date.now()))
  }
  const results = await Promise.all(waits)
  await restartDone
  const drainMs = Date.now() - started
  draining = false
  clearInterval(progress)
  clearInterval(supervisor)
  await killer
  await killing
  await sleep(2000)
  for (const worker of workers) {
    worker.expectedExit = true
    worker.child.kill('SIGTERM')
  }
  const stopped = await Promise.race([Promise.all(workers.map((w) => w.exited)).then(() => true), sleep(30000).then(() => false)])
  if (!stopped) for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL')
  await Promise.all(workers.map((w) => w.exited))
  await client.stop()

  const completed = results.filter((r) => r.status === 'completed')
  let lostKeys = 0
  for (const result of completed) {
    for (const node of workflow.EXPECTED_NODES) if (result.context[`key.${node}`] !== node) lostKeys += 1
  }
  const extra = (counts) => [...counts.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0)
  const messages = await jobMessages(settings.topicName)
  const figures = {
    runs: RUNS,
    workers: WORKERS,
    kills,
    completed: completed.length,
    notCompleted: results.filter((r) => r.status !== 'completed').map((r) => `${r.runId}: ${r.status} ${r.reason ?? ''}`).slice(0, 10),
    duplicateRecordedOutputs: extra(perKey(lines, 'FINISH ')),
    // A second job for the same node of a run (not the same job published again).
    duplicateSuccessorJobs: [...messages.values()].reduce((sum, ids) => sum + ids.size - 1, 0),
    // The same job id on the topic again: the reconciler's copies (skipped by the done-guard).
    republishedCopies: [...messages.values()].reduce((sum, ids) => sum + extra(ids), 0),
    bodiesRunMoreThanOnce: extra(perKey(lines, 'EXEC ')),
    lostContextKeys: lostKeys,
    drainSeconds: drainMs / 1000,
    runSeconds: percentiles(runIds.filter((id) => finishedAt.has(id)).map((id) => (finishedAt.get(id) - startedAt.get(id)) / 1000)),
    restarted: RESTART,
    restartAtSeconds: restart ? restart.atSeconds : null,
    restartPauseSeconds: RESTART ? RESTART_PAUSE_MS / 1000 : null,
    // From the SIGTERM until the service answered again (stack.sh restart's own measure).
    serviceDownSeconds: restart ? restart.downSeconds : null,
    serviceStopSeconds: restart ? restart.stopSeconds : null,
    serviceStartSeconds: restart ? restart.startSeconds : null,
    restartOk: restart ? restart.ok : null,
    unexpectedWorkerExits: unexpectedExits,
    clientRetriedErrors: Object.fromEntries(clientErrors),
    workerStderrLines: workerStderr.length,
    workerStderrSample: summarise(workerStderr),
  }
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, `${JSON.stringify(figures, null, 2)}\n`)
  const ok =
    figures.completed === RUNS &&
    figures.duplicateRecordedOutputs === 0 &&
    figures.duplicateSuccessorJobs === 0 &&
    // A service away while a node's output is recorded also runs its body again.
    (figures.bodiesRunMoreThanOnce <= kills * RERUNS_PER_KILL || RESTART !== null) &&
    figures.lostContextKeys === 0 &&
    kills >= (KILL_EVERY_MS > 0 ? MIN_KILLS : 0) &&
    (restart === null || restart.ok)
  process.exit(ok ? 0 : 1)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
