// Crash test (not a unit test): N runs of a 10-node DAG on worker processes, one of them
// killed with SIGKILL at random every ~3 s and restarted, a reconciler running in each.
//
//   node bench/crash/run.js [--runs 1000] [--rate 50] [--workers 2] [--kill-every-ms 3000] [--json file]
//
// Runs are started at --rate runs/s (0: all at once), so kills land while work is going on.
//
// Reports runs completed / N, duplicate recorded outputs and duplicate successor job
// messages (both must be 0), JS node bodies run more than once (at most the number of
// kills), context keys lost (must be 0) and the time to drain. Exits 1 when a "must"
// fails. Needs the local stack (npm run stack:up).
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
const RATE = Number(option('rate', 50))
const JSON_OUT = option('json', null)
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
}

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
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let buffered = ''
  const worker = { child, ready: false }
  worker.exited = new Promise((resolve) => child.on('exit', resolve))
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
    const timer = setTimeout(resolve, 60000)
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        const job = JSON.parse(message.value.toString())
        const key = `${job.runId} ${job.nodeId}`
        const ids = counts.get(key) ?? new Map()
        ids.set(job.jobId, (ids.get(job.jobId) ?? 0) + 1)
        counts.set(key, ids)
        reached.set(partition, Number(message.offset) + 1)
        const done = ends.every((e) => Number(e.high) <= (reached.get(e.partition) ?? 0) + 1 || Number(e.high) === 0)
        if (done) {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
  return counts
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
  process.stdout.write(`crash test: ${RUNS} runs on ${WORKERS} workers, one killed every ~${KILL_EVERY_MS} ms\n`)
  const started = Date.now()
  let kills = 0
  let draining = true
  const killer = (async () => {
    while (draining) {
      await sleep(KILL_EVERY_MS * (0.5 + Math.random()))
      if (!draining) break
      const slot = Math.floor(Math.random() * WORKERS)
      workers[slot].child.kill('SIGKILL')
      await workers[slot].exited
      kills += 1
      workers[slot] = spawnWorker(slot, lines)
    }
  })()
  const runIds = []
  const step = RATE > 0 ? Math.max(1, Math.round(RATE / 10)) : 50
  for (let i = 0; i < RUNS; i += step) {
    const batch = Array.from({ length: Math.min(step, RUNS - i) }, () => client.startRun('crash-dag'))
    runIds.push(...(await Promise.all(batch)))
    if (RATE > 0) await sleep(Math.max(0, started + ((i + step) * 1000) / RATE - Date.now()))
  }
  const progress = setInterval(() => {
    const done = lines.filter((l) => l.startsWith('FINISH ') && l.endsWith(' done')).length
    process.stdout.write(`  ${done}/${RUNS} runs done, ${kills} kills\n`)
  }, 5000)
  const results = await Promise.all(
    runIds.map((runId) => client.waitForRun(runId, { timeoutMs: 600000 }).catch((error) => ({ runId, status: 'lost', reason: error.message }))),
  )
  const drainMs = Date.now() - started
  draining = false
  clearInterval(progress)
  await killer
  await sleep(2000)
  for (const worker of workers) worker.child.kill('SIGTERM')
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
  }
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, `${JSON.stringify(figures, null, 2)}\n`)
  const ok =
    figures.completed === RUNS &&
    figures.duplicateRecordedOutputs === 0 &&
    figures.duplicateSuccessorJobs === 0 &&
    figures.bodiesRunMoreThanOnce <= kills &&
    figures.lostContextKeys === 0
  process.exit(ok ? 0 : 1)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
