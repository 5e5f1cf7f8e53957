// `/metrics` on the real stack: served over HTTP, read by a Prometheus text parser, and
// the counts and histogram buckets agree with what was run.
import { InMemoryAdapter, KafkaAdapter } from '../../index'
import type { KafkaAdapterOptions } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { withProducer } from './kafka/raw-kafka'
import { scrape, type Scrape } from './kafka/scrape'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const metered = {
  id: 'metered',
  nodes: [
    { id: 'fetch', uses: 'fetch' },
    { id: 'save', uses: 'save', config: { maxRetries: 3 } },
  ],
  edges: [{ source: 'fetch', target: 'save' }],
}

interface NodeContext {
  input?: unknown
  context: { get(key: string): Promise<unknown> }
  dependencies: { attempt: number }
}

const registry = {
  // 30 ms: every observation of this node lands above the 25 ms bucket.
  fetch: async () => {
    await sleep(30)
    return { output: 1 }
  },
  save: async (ctx: NodeContext) => {
    const mode = await ctx.context.get('mode')
    if (mode === 'doomed') throw new Error('the store refused it')
    if (mode === 'flaky' && ctx.dependencies.attempt === 1) throw new Error('a hiccup')
    return { output: 2 }
  },
}

/** Scrapes until `done` holds (metrics from other threads land a moment later). */
async function scrapeUntil(address: string, done: (s: Scrape) => boolean, timeoutMs = 30000): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const scraped = await scrape(address)
    if (done(scraped) || Date.now() > deadline) return scraped
    await sleep(200)
  }
}

test('50 runs (one retried, one failing): /metrics counts what ran, with histogram buckets', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions({ blueprints: { metered }, registry }, suffix, {
    concurrency: 8,
    metrics: { port: 0 },
  })
  const adapter = new KafkaAdapter(options)
  expect(adapter.metricsAddress()).toBeNull()
  await adapter.start()
  const address = adapter.metricsAddress()!
  try {
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/)
    // Unlabelled families are there from the start; labelled ones once fed.
    const before = await scrape(address)
    expect(before.value('flowcraft_runs_started_total')).toBe(0)
    expect(before.value('flowcraft_jobs_in_flight')).toBe(0)
    expect(before.type('flowcraft_node_failures_total')).toBeUndefined()

    const modes = Array.from({ length: 50 }, (_, i) => (i === 7 ? 'flaky' : i === 23 ? 'doomed' : 'plain'))
    const runIds = await Promise.all(modes.map((mode) => adapter.startRun('metered', { mode })))
    await withProducer(`metrics-${suffix}`, (producer) =>
      producer.send({ topic: options.topicName!, messages: [{ key: 'junk', value: '{not json' }] }),
    )
    const results = await Promise.all(runIds.map((runId) => adapter.waitForRun(runId, { timeoutMs: 60000 })))
    expect(results.filter((r) => r.status === 'completed')).toHaveLength(49)
    expect(results[23].status).toBe('failed')

    const labels = { blueprint: 'metered' }
    const m = await scrapeUntil(
      address,
      (s) => s.value('flowcraft_jobs_in_flight') === 0 && s.sum('flowcraft_dead_letters_total') === 1,
    )
    expect(m.value('flowcraft_runs_started_total')).toBe(50)
    expect(m.value('flowcraft_runs_finished_total', { ...labels, status: 'completed' })).toBe(49)
    expect(m.value('flowcraft_runs_finished_total', { ...labels, status: 'failed' })).toBe(1)
    expect(m.value('flowcraft_runs_awaiting')).toBe(0)
    // 2 jobs per run; the retries ran inline (no delay), in the same job.
    expect(m.value('flowcraft_jobs_handled_total', { outcome: 'done' })).toBe(100)
    expect(m.value('flowcraft_jobs_in_flight')).toBe(0)
    // The flaky run retried once; the doomed one twice before its last attempt failed.
    expect(m.value('flowcraft_node_retries_total')).toBe(3)
    expect(m.value('flowcraft_node_failures_total', { ...labels, node: 'save' })).toBe(1)
    expect(m.labelSets('flowcraft_node_failures_total')).toHaveLength(1)
    expect(m.value('flowcraft_dead_letters_total', { reason: 'not_json' })).toBe(1)

    expect(m.type('flowcraft_node_duration_seconds')).toBe('histogram')
    const fetchNode = m.histogram('flowcraft_node_duration_seconds', { ...labels, node: 'fetch' })!
    expect(fetchNode.count).toBe(50)
    expect(fetchNode.buckets['0.025']).toBe(0)
    expect(fetchNode.buckets['+Inf']).toBe(50)
    expect(fetchNode.sum).toBeGreaterThanOrEqual(50 * 0.029)
    // 48 plain + 2 flaky + 3 doomed attempts.
    const save = m.histogram('flowcraft_node_duration_seconds', { ...labels, node: 'save' })!
    expect(save.count).toBe(53)
    for (const histogram of [fetchNode, save]) {
      const counts = Object.entries(histogram.buckets)
        .sort(([a], [b]) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)))
        .map(([, n]) => n)
      expect(counts).toEqual([...counts].sort((a, b) => a - b))
    }
    // Every job came through Kafka, so each has a hop.
    const hops = m.histogram('flowcraft_hop_latency_seconds', labels)!
    expect(hops.count).toBe(100)
    expect(hops.buckets['+Inf']).toBe(100)

    expect(m.value('flowcraft_partitions_assigned')).toBe(adapter.assignedPartitions().length)
    expect(m.value('flowcraft_rebalances_total')).toBeGreaterThanOrEqual(1)
    // The timer service, under our names and kafka-message-scheduler's.
    expect(m.type('flowcraft_timers_fired_total')).toBe('counter')
    expect(m.value('kafka_scheduler_event_total', { event: 'triggered' })).toBe(0)
    expect(adapter.metrics()).toContain('flowcraft_runs_started_total 50')
  } finally {
    await adapter.stop()
  }
  expect(adapter.metricsAddress()).toBeNull()
  await expect(fetch(`http://${address}/metrics`)).rejects.toThrow()
}, 120000)

test('consumer lag: jobs produced while no worker runs show up, then fall to 0', async () => {
  const suffix = uniqueSuffix()
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => (release = resolve))
  const gated = { id: 'gated', nodes: [{ id: 'wait', uses: 'held' }], edges: [] }
  const held = async () => {
    await gate
    return { output: true }
  }
  const options: KafkaAdapterOptions = stackOptions({ blueprints: { gated }, registry: { held } }, suffix, {
    concurrency: 1,
    partitions: 2,
  })
  const client = new KafkaAdapter({ ...options, worker: false })
  await client.start()
  const worker = new KafkaAdapter({ ...options, metrics: { port: 0 } })
  try {
    const runIds = await Promise.all(Array.from({ length: 100 }, () => client.startRun('gated')))
    await worker.start()
    const address = worker.metricsAddress()!
    const lag = (s: Scrape) => s.sum('flowcraft_consumer_lag', { topic: options.topicName! })
    // The first job is held, so nothing is committed: all 100 are behind.
    const behind = await scrapeUntil(address, (s) => s.labelSets('flowcraft_consumer_lag').length === 2 && lag(s) === 100)
    expect(lag(behind)).toBe(100)
    release()
    await Promise.all(runIds.map((runId) => client.waitForRun(runId, { timeoutMs: 60000 })))
    const caughtUp = await scrapeUntil(address, (s) => lag(s) === 0)
    expect(lag(caughtUp)).toBe(0)
  } finally {
    release()
    await worker.stop()
    await client.stop()
  }
}, 120000)

test('a bad metrics option is refused up front, naming the field', () => {
  const options = stackOptions({ blueprints: { metered }, registry }, uniqueSuffix())
  const bad = [
    [{ port: 70000 }, /metrics\.port = 70000/],
    [{ port: 'x' }, /metrics\.port is missing or not a number/],
    [{ port: 9400, hots: 'a' }, /metrics\.hots is not an option/],
    [{ port: 9400, host: '' }, /metrics\.host is empty/],
    [9400, /metrics must be \{ port, host\? \}/],
  ] as const
  for (const [metrics, reason] of bad) {
    let caught: unknown
    try {
      new KafkaAdapter({ ...options, metrics: metrics as never })
    } catch (error) {
      caught = error
    }
    expect(caught).toMatchObject({ code: 'ERR_INVALID_OPTIONS', message: expect.stringMatching(reason) })
  }
})

test('transactional delivery counts its commits; an in-memory adapter serves the same families', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions({ blueprints: { metered }, registry }, suffix, {
    delivery: 'transactional',
    metrics: { port: 0 },
  })
  const adapter = new KafkaAdapter(options)
  await adapter.start()
  try {
    const runIds = await Promise.all(Array.from({ length: 10 }, () => adapter.startRun('metered', { mode: 'plain' })))
    await Promise.all(runIds.map((runId) => adapter.waitForRun(runId, { timeoutMs: 60000 })))
    const m = await scrapeUntil(adapter.metricsAddress()!, (s) => s.value('flowcraft_jobs_in_flight') === 0)
    expect(m.value('flowcraft_transactions_total', { result: 'committed' })).toBeGreaterThanOrEqual(1)
    expect(m.value('flowcraft_transactions_total', { result: 'aborted' })).toBeUndefined()
    expect(m.value('flowcraft_jobs_handled_total', { outcome: 'done' })).toBe(20)
  } finally {
    await adapter.stop()
  }

  const memory = new InMemoryAdapter({ runtimeOptions: { blueprints: { metered }, registry }, metrics: { port: 0 } })
  await memory.start()
  try {
    const runId = await memory.startRun('metered', { mode: 'flaky' })
    expect((await memory.waitForRun(runId)).status).toBe('completed')
    const m = await scrapeUntil(memory.metricsAddress()!, (s) => s.value('flowcraft_jobs_in_flight') === 0)
    expect(m.value('flowcraft_runs_finished_total', { blueprint: 'metered', status: 'completed' })).toBe(1)
    expect(m.value('flowcraft_node_retries_total')).toBe(1)
    expect(m.histogram('flowcraft_node_duration_seconds', { blueprint: 'metered', node: 'save' })?.count).toBe(2)
    // No Kafka: no timer service, no lag, no transactions.
    expect(m.type('kafka_scheduler_event_total')).toBeUndefined()
  } finally {
    await memory.stop()
  }
}, 120000)
