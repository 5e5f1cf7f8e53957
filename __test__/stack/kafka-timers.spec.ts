// The durable timer service on the real stack: kafka-message-scheduler's protocol from a
// plain producer, replace and cancel, invalid schedules, and delayed runs.
import { KafkaAdapter } from '../../index'
import type { KafkaAdapterOptions } from '../../index'
import { readTopic } from './kafka/raw-kafka'
import { Collector, connectedProducer, createTopics, scheduleMessage, timersReady } from './kafka/schedules'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sleepWorkflow = require('./kafka/sleep-workflow.js')

interface TimerStack {
  suffix: string
  options: KafkaAdapterOptions
  schedules: string
  history: string
  target: string
}

async function timerStack(runtime: KafkaAdapterOptions['runtimeOptions'] = { blueprints: {}, registry: {} }): Promise<TimerStack> {
  const suffix = uniqueSuffix()
  const target = `test-target-${suffix}`
  await createTopics([target])
  const options = stackOptions(runtime, suffix)
  return { suffix, options, schedules: options.schedulesTopic!, history: options.schedulesHistoryTopic!, target }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('a schedule from a plain Kafka producer fires within 250 ms of its due time, with kms headers, a history copy and a tombstone', async () => {
  const stack = await timerStack()
  const worker = new KafkaAdapter(stack.options)
  await worker.start()
  const arrivals = await Collector.start(stack.target)
  const producer = await connectedProducer(`kms-${stack.suffix}`)
  try {
    await timersReady(worker)
    // kms's epoch is whole seconds: the first whole second at least 2 s ahead.
    const dueMs = Math.ceil((Date.now() + 2000) / 1000) * 1000
    const key = `video-online-${stack.suffix}`
    await producer.send({
      topic: stack.schedules,
      messages: [
        scheduleMessage({
          key,
          dueMs,
          targetTopic: stack.target,
          targetKey: 'vid1',
          value: 'video 1',
          headers: { 'customer-header': 'dummy' },
        }),
      ],
    })
    await arrivals.until((a) => a.length >= 1, 15000)
    const [fired] = arrivals.arrivals
    expect(fired.receivedAt).toBeGreaterThanOrEqual(dueMs)
    expect(fired.receivedAt - dueMs).toBeLessThanOrEqual(250)
    expect(fired.key).toBe('vid1')
    expect(fired.value).toBe('video 1')
    expect(fired.headers['customer-header']).toBe('dummy')
    expect(fired.headers['scheduler-key']).toBe(key)
    expect(fired.headers['scheduler-topic']).toBe(stack.schedules)
    const producedAt = Number(fired.headers['scheduler-timestamp'])
    expect(Math.abs(producedAt - Math.floor(dueMs / 1000))).toBeLessThanOrEqual(4)
    expect(fired.headers['scheduler-epoch']).toBeUndefined()
    expect(fired.headers['scheduler-target-topic']).toBeUndefined()

    const [copy] = await readTopic(stack.history, 1, 10000)
    expect(copy.key).toBe(key)
    expect(copy.value?.toString()).toBe('video 1')
    expect(copy.headers['scheduler-key']).toBe(key)
    expect(copy.headers['flowcraft-scheduler-late']).toBe('false')

    const log = await readTopic(stack.schedules, 2, 10000)
    expect(log.map((m) => [m.key, m.value === null ? null : m.value.toString()])).toEqual([
      [key, 'video 1'],
      [key, null],
    ])
    await sleep(300)
    expect(arrivals.arrivals).toHaveLength(1)
    expect(worker.timerMetrics()).toMatchObject({ planned: 1, fired: 1, late: 0, invalid: 0, pending: 0 })
    expect(worker.prometheusMetrics()).toContain('flowcraft_timers_fired_total 1')
  } finally {
    await producer.disconnect()
    await arrivals.stop()
    await worker.stop()
  }
})

test('a re-sent key moves the due time, a tombstone cancels, an invalid schedule is counted and never fires', async () => {
  const stack = await timerStack()
  const worker = new KafkaAdapter(stack.options)
  await worker.start()
  const arrivals = await Collector.start(stack.target)
  const producer = await connectedProducer(`kms-${stack.suffix}`)
  try {
    await timersReady(worker)
    const now = Date.now()
    const at = (ms: number, key: string, value: string) =>
      scheduleMessage({ key, dueMs: now + ms, targetTopic: stack.target, targetKey: key, value, millis: true })
    await producer.send({ topic: stack.schedules, messages: [at(1000, 'moved', 'first'), at(1000, 'cancelled', 'never')] })
    await producer.send({
      topic: stack.schedules,
      messages: [
        at(2500, 'moved', 'second'),
        { key: 'cancelled', value: null },
        { key: 'broken', value: 'x', headers: { 'scheduler-epoch': 'soon', 'scheduler-target-topic': stack.target, 'scheduler-target-key': 'k' } },
        { key: 'no-target', value: 'x', headers: { 'scheduler-epoch': '1' } },
      ],
    })
    await arrivals.until((a) => a.length >= 1, 15000)
    const [moved] = arrivals.arrivals
    expect(moved.key).toBe('moved')
    expect(moved.value).toBe('second')
    expect(moved.receivedAt).toBeGreaterThanOrEqual(now + 2500)
    await sleep(700)
    expect(arrivals.arrivals.map((a) => a.key)).toEqual(['moved'])
    const metrics = worker.timerMetrics()!
    expect(metrics).toMatchObject({ fired: 1, replaced: 1, cancelled: 1, invalid: 2, pending: 0 })
    expect(metrics.lastInvalid).toContain('no-target')
    expect(metrics.lastInvalid).toContain('scheduler-target-topic is missing')
  } finally {
    await producer.disconnect()
    await arrivals.stop()
    await worker.stop()
  }
})

test('a sleep node of 1.5 s: the run completes after at least 1.5 s and the successor runs once', async () => {
  const calls: string[] = []
  const registry = {
    stamp: async (ctx: { dependencies: { nodeId: string } }) => {
      calls.push(ctx.dependencies.nodeId)
      return { output: ctx.dependencies.nodeId }
    },
  }
  const stack = await timerStack({ blueprints: sleepWorkflow.blueprints, registry })
  const worker = new KafkaAdapter(stack.options)
  await worker.start()
  try {
    await timersReady(worker)
    const started = Date.now()
    const result = await worker.run('napping', {}, { timeoutMs: 30000 })
    expect(result.status).toBe('completed')
    expect(Date.now() - started).toBeGreaterThanOrEqual(sleepWorkflow.SLEEP_MS)
    expect(calls).toEqual(['before', 'after'])
    expect(worker.timerMetrics()).toMatchObject({ fired: 1, pending: 0 })
  } finally {
    await worker.stop()
  }
})

test('startRun with { at } and schedule() start the run at that time, not before', async () => {
  const starts: number[] = []
  const registry = {
    stamp: async (ctx: { dependencies: { nodeId: string } }) => {
      if (ctx.dependencies.nodeId === 'before') starts.push(Date.now())
      return { output: ctx.dependencies.nodeId }
    },
  }
  const stack = await timerStack({ blueprints: sleepWorkflow.blueprints, registry })
  const worker = new KafkaAdapter(stack.options)
  await worker.start()
  const client = new KafkaAdapter({ ...stack.options, worker: false })
  await client.start()
  try {
    await timersReady(worker)
    const at = Date.now() + 1200
    const first = await client.startRun('napping', {}, { at })
    const second = await client.schedule('napping', {}, at)
    expect(client.timerMetrics()).toBeNull()
    for (const runId of [first, second]) {
      expect((await client.waitForRun(runId, { timeoutMs: 30000 })).status).toBe('completed')
    }
    expect(starts).toHaveLength(2)
    for (const startedAt of starts) expect(startedAt).toBeGreaterThanOrEqual(at)
    let thrown: unknown
    try {
      void client.startRun('napping', {}, { at: Number.NaN })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('options.at = NaN') })
  } finally {
    await client.stop()
    await worker.stop()
  }
})
