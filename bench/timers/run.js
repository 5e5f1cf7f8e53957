// Timer service benchmark (not a test): how many pending timers fit in 100 MB of worker
// RSS, and how late timers fire when 100k of them are due within one minute.
//
//   node bench/timers/run.js [--timers 100000] [--window-ms 60000] [--trace file]
//
// --trace writes "<due time - first due time> <firing delay>" per timer, in ms.
// Needs the local stack (npm run stack:up). Schedules are written by a plain kafkajs
// producer in kafka-message-scheduler's format; the worker is a separate process.
'use strict'
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { Kafka, logLevel } = require('kafkajs')

const args = process.argv.slice(2)
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const TIMERS = arg('timers', 100000)
const TRACE = args.includes('--trace') ? args[args.indexOf('--trace') + 1] : null
const WINDOW_MS = arg('window-ms', 60000)
const LEAD_MS = 15000
const brokers = (process.env.FLOWCRAFT_KAFKA_BROKERS || '127.0.0.1:9092').split(',')
const kafka = new Kafka({ clientId: 'timer-bench', brokers, logLevel: logLevel.NOTHING })
// A typical engine payload: a job of a few hundred bytes.
const PAYLOAD = JSON.stringify({ runId: 'r'.repeat(36), blueprintId: 'bench', nodeId: 'nap', jobId: 'j'.repeat(40), phase: 'wake', attempt: 1 })

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

function startWorker(settings) {
  const child = spawn(process.execPath, [path.join(__dirname, 'worker.js')], {
    env: { ...process.env, TIMER_BENCH: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const worker = { child, last: null }
  let buffered = ''
  child.stdout.on('data', (chunk) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()
    for (const line of lines) if (line.startsWith('STATS ')) worker.last = JSON.parse(line.slice(6))
  })
  worker.until = async (predicate, what, timeoutMs = 300000) => {
    const deadline = Date.now() + timeoutMs
    while (!(worker.last && predicate(worker.last))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(worker.last)}`)
      await sleep(100)
    }
    return worker.last
  }
  worker.stop = () => new Promise((resolve) => child.on('exit', resolve) && child.kill('SIGTERM'))
  return worker
}

async function produceSchedules(topic, target, dueOf) {
  const producer = kafka.producer()
  await producer.connect()
  for (let from = 0; from < TIMERS; from += 2000) {
    const messages = []
    for (let i = from; i < Math.min(TIMERS, from + 2000); i++) {
      const due = dueOf(i)
      messages.push({
        key: `timer-${i}`,
        value: PAYLOAD,
        headers: {
          'scheduler-epoch': String(Math.ceil(due / 1000)),
          'flowcraft-scheduler-epoch-ms': String(due),
          'scheduler-target-topic': target,
          'scheduler-target-key': `timer-${i}`,
        },
      })
    }
    await producer.send({ topic, messages })
  }
  await producer.disconnect()
}

async function memoryFigure(suffix) {
  const settings = { schedulesTopic: `timer-bench-mem-${suffix}`, historyTopic: `timer-bench-mem-history-${suffix}`, suffix: `mem-${suffix}` }
  const worker = startWorker(settings)
  await worker.until((s) => s.timers && s.timers.partitions > 0 && s.timers.loadingPartitions === 0, 'the worker to own its partitions')
  await sleep(2000)
  const baseline = worker.last.rss
  process.stdout.write(`memory: worker ready, RSS ${(baseline / 2 ** 20).toFixed(1)} MiB; writing ${TIMERS} timers due in 1 h\n`)
  const dueAt = Date.now() + 3600000
  await produceSchedules(settings.schedulesTopic, 'timer-bench-never', () => dueAt)
  await worker.until((s) => s.timers.pending >= TIMERS, `${TIMERS} pending timers`)
  await sleep(3000)
  const loaded = worker.last.rss
  await worker.stop()
  const perTimer = (loaded - baseline) / TIMERS
  return { timers: TIMERS, baselineRssMiB: baseline / 2 ** 20, loadedRssMiB: loaded / 2 ** 20, bytesPerTimer: perTimer, timersPer100MB: Math.floor((100 * 2 ** 20) / perTimer), payloadBytes: PAYLOAD.length }
}

async function delayFigure(suffix) {
  const settings = { schedulesTopic: `timer-bench-fire-${suffix}`, historyTopic: `timer-bench-fire-history-${suffix}`, suffix: `fire-${suffix}` }
  const target = `timer-bench-target-${suffix}`
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: target, numPartitions: 8 }], waitForLeaders: true })
  await admin.disconnect()
  const worker = startWorker(settings)
  await worker.until((s) => s.timers && s.timers.partitions > 0 && s.timers.loadingPartitions === 0, 'the worker to own its partitions')
  const first = Date.now() + LEAD_MS
  const dueOf = (i) => first + Math.floor((i * WINDOW_MS) / TIMERS)
  const dues = new Map()
  for (let i = 0; i < TIMERS; i++) dues.set(`timer-${i}`, dueOf(i))
  const delays = []
  const consumer = kafka.consumer({ groupId: `timer-bench-reader-${suffix}`, maxWaitTimeInMs: 10 })
  await consumer.connect()
  await consumer.subscribe({ topic: target, fromBeginning: true })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const now = Date.now()
      for (const message of batch.messages) delays.push(now - dues.get(message.key.toString()))
    },
  })
  process.stdout.write(`delay: writing ${TIMERS} timers due from +${LEAD_MS / 1000} s over ${WINDOW_MS / 1000} s\n`)
  await produceSchedules(settings.schedulesTopic, target, dueOf)
  const progress = setInterval(() => {
    const t = worker.last.timers
    process.stdout.write(`  fired ${t.fired}/${TIMERS}, received ${delays.length}, pending ${t.pending}, late ${t.late}\n`)
  }, 5000)
  await worker.until((s) => s.timers.fired >= TIMERS, `${TIMERS} timers fired`, LEAD_MS + WINDOW_MS + 120000)
  while (delays.length < TIMERS) await sleep(100)
  clearInterval(progress)
  const late = worker.last.timers.late
  await consumer.disconnect()
  await worker.stop()
  const fired = await firedAt(settings.historyTopic, dues, suffix)
  delays.sort((a, b) => a - b)
  fired.sort((a, b) => a - b)
  return {
    timers: TIMERS,
    windowMs: WINDOW_MS,
    early: fired.filter((d) => d < 0).length,
    late,
    // Due time to the commit of the fire (history header), and to a consumer's receipt.
    fire: { p50Ms: percentile(fired, 50), p99Ms: percentile(fired, 99), maxMs: fired[fired.length - 1] },
    received: { p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), maxMs: delays[delays.length - 1] },
  }
}

/** Fire time minus due time of every timer, from the history copies' fired-at header. */
async function firedAt(historyTopic, dues, suffix) {
  const delays = []
  const trace = []
  let firstDue = Infinity
  for (const due of dues.values()) firstDue = Math.min(firstDue, due)
  const consumer = kafka.consumer({ groupId: `timer-bench-history-${suffix}`, maxWaitTimeInMs: 50 })
  await consumer.connect()
  await consumer.subscribe({ topic: historyTopic, fromBeginning: true })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        const due = dues.get(message.key.toString())
        delays.push(Number(message.headers['flowcraft-scheduler-fired-at-ms']) - due)
        if (TRACE) trace.push(`${due - firstDue} ${delays[delays.length - 1]}`)
      }
    },
  })
  while (delays.length < dues.size) await sleep(100)
  await consumer.disconnect()
  if (TRACE) fs.writeFileSync(TRACE, `${trace.join('\n')}\n`)
  return delays
}

async function main() {
  const suffix = Date.now().toString(36)
  const memory = await memoryFigure(suffix)
  process.stdout.write(`${JSON.stringify(memory)}\n`)
  const delay = await delayFigure(suffix)
  process.stdout.write(`${JSON.stringify(delay)}\n`)
  process.stdout.write(
    [
      '',
      '| figure | value |',
      '|---|---|',
      `| pending timers per 100 MB of worker RSS (${memory.payloadBytes}-byte payloads) | ~${memory.timersPer100MB.toLocaleString('en')} (${memory.bytesPerTimer.toFixed(0)} bytes per timer) |`,
      `| firing delay p50 / p99 / max, ${TIMERS.toLocaleString('en')} timers due within ${WINDOW_MS / 1000} s (due time to fire) | ${delay.fire.p50Ms} ms / ${delay.fire.p99Ms} ms / ${delay.fire.maxMs} ms |`,
      `| due time to receipt by a kafkajs consumer of the target, p50 / p99 / max | ${delay.received.p50Ms} ms / ${delay.received.p99Ms} ms / ${delay.received.maxMs} ms |`,
      `| fired early / flagged late | ${delay.early} / ${delay.late} |`,
      '',
    ].join('\n'),
  )
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
