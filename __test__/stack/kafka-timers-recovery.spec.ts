// The timer service survives a worker killed with SIGKILL: nothing lost, nothing twice.
import { KafkaAdapter } from '../../index'
import { Collector, connectedProducer, createTopics, scheduleMessage, workerTimersReady } from './kafka/schedules'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { executions, spawnWorker, stopWorkers, type WorkerHandle } from './kafka/workers'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sleepWorkflow = require('./kafka/sleep-workflow.js')

const SLEEP_WORKFLOW = './sleep-workflow.js'

async function kill(worker: WorkerHandle): Promise<void> {
  worker.child.kill('SIGKILL')
  await worker.exited
}

test('1,000 schedules due over 10 s, the worker killed after 3 s and restarted: each fires exactly once', async () => {
  const suffix = uniqueSuffix()
  const target = `test-target-${suffix}`
  await createTopics([target])
  const workerOptions = stackOptions({ blueprints: {}, registry: {} }, suffix, {
    transactionalId: `timer-worker-${suffix}`,
  })
  let worker = await spawnWorker(SLEEP_WORKFLOW, workerOptions)
  const arrivals = await Collector.start(target)
  const producer = await connectedProducer(`kms-${suffix}`)
  const COUNT = 1000
  try {
    await workerTimersReady(worker)
    const start = Date.now()
    const messages = Array.from({ length: COUNT }, (_, i) =>
      scheduleMessage({
        key: `s-${i}`,
        dueMs: start + 500 + Math.floor((i * 9500) / COUNT),
        targetTopic: target,
        targetKey: `s-${i}`,
        value: String(i),
        millis: true,
      }),
    )
    await producer.send({ topic: workerOptions.schedulesTopic!, messages })
    await new Promise((resolve) => setTimeout(resolve, start + 3000 - Date.now()))
    const beforeKill = arrivals.arrivals.length
    await kill(worker)
    worker = await spawnWorker(SLEEP_WORKFLOW, workerOptions)
    await arrivals.until((a) => a.length >= COUNT, 60000)
    // Anything fired twice would show up shortly after.
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const perKey = new Map<string, number>()
    for (const arrival of arrivals.arrivals) perKey.set(arrival.key!, (perKey.get(arrival.key!) ?? 0) + 1)
    const twice = [...perKey].filter(([, n]) => n > 1)
    expect(beforeKill).toBeGreaterThan(0)
    expect(beforeKill).toBeLessThan(COUNT)
    expect(twice).toEqual([])
    expect(perKey.size).toBe(COUNT)
    expect(arrivals.arrivals).toHaveLength(COUNT)
  } finally {
    await producer.disconnect()
    await arrivals.stop()
    await stopWorkers([worker])
  }
}, 120000)

test('a worker killed while a run sleeps: after a restart the run completes, the successor runs once', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions(
    { blueprints: sleepWorkflow.blueprints, registry: sleepWorkflow.registry },
    suffix,
    {
      transactionalId: `sleep-worker-${suffix}`,
    },
  )
  const first = await spawnWorker(SLEEP_WORKFLOW, options)
  const client = new KafkaAdapter({ ...options, worker: false })
  await client.start()
  let second: WorkerHandle | undefined
  try {
    await workerTimersReady(first)
    const started = Date.now()
    const runId = await client.startRun('napping')
    const deadline = Date.now() + 10000
    while (!executions([first]).has(`${runId} before`)) {
      if (Date.now() > deadline) throw new Error('the first node never ran')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    // Mid-sleep: the wake-up exists only as a schedule on Kafka.
    await new Promise((resolve) => setTimeout(resolve, 300))
    await kill(first)
    second = await spawnWorker(SLEEP_WORKFLOW, options)
    const result = await client.waitForRun(runId, { timeoutMs: 60000 })
    expect(result.status).toBe('completed')
    const context = result.context as Record<string, number>
    expect(context.afterAt - context.beforeAt).toBeGreaterThanOrEqual(sleepWorkflow.SLEEP_MS)
    expect(Date.now() - started).toBeGreaterThanOrEqual(sleepWorkflow.SLEEP_MS)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const counts = executions([first, second])
    expect(counts.get(`${runId} before`)).toBe(1)
    expect(counts.get(`${runId} after`)).toBe(1)
  } finally {
    await client.stop()
    await stopWorkers(second ? [second] : [])
  }
}, 120000)

test('two workers share the schedules by partition; one stops mid-load and the other takes its timers over: each fires once', async () => {
  const suffix = uniqueSuffix()
  const target = `test-target-${suffix}`
  await createTopics([target])
  const options = (n: number) =>
    stackOptions({ blueprints: {}, registry: {} }, suffix, {
      transactionalId: `shared-worker-${n}-${suffix}`,
    })
  const workers = [await spawnWorker(SLEEP_WORKFLOW, options(1)), await spawnWorker(SLEEP_WORKFLOW, options(2))]
  const arrivals = await Collector.start(target)
  const producer = await connectedProducer(`kms-${suffix}`)
  const COUNT = 600
  try {
    // Both own timer partitions once the group settled.
    const deadline = Date.now() + 30000
    const owns = (w: WorkerHandle) => {
      const last = [...w.output].reverse().find((line) => line.startsWith('TIMERS'))
      const [, owned, loading] = (last ?? '').split(' ')
      return Number(owned) > 0 && loading === '0'
    }
    while (!workers.every(owns)) {
      if (Date.now() > deadline) throw new Error('the timer partitions were not shared')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const start = Date.now()
    const messages = Array.from({ length: COUNT }, (_, i) =>
      scheduleMessage({
        key: `s-${i}`,
        dueMs: start + 500 + Math.floor((i * 5500) / COUNT),
        targetTopic: target,
        targetKey: `s-${i}`,
        value: String(i),
        millis: true,
      }),
    )
    await producer.send({ topic: options(1).schedulesTopic!, messages })
    await new Promise((resolve) => setTimeout(resolve, start + 2000 - Date.now()))
    await stopWorkers([workers[0]])
    await arrivals.until((a) => a.length >= COUNT, 60000)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const perKey = new Map<string, number>()
    for (const arrival of arrivals.arrivals) perKey.set(arrival.key!, (perKey.get(arrival.key!) ?? 0) + 1)
    expect([...perKey].filter(([, n]) => n > 1)).toEqual([])
    expect(perKey.size).toBe(COUNT)
  } finally {
    await producer.disconnect()
    await arrivals.stop()
    await stopWorkers([workers[1]])
  }
}, 120000)
