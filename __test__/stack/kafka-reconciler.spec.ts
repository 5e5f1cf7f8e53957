// createKafkaReconciler on the real stack: a run whose job was lost is brought back, a
// run whose Redis state is gone resumes from the frontier its context records, a run
// whose blueprint is gone fails, a slow node is not run twice, periodic passes.
import { KafkaAdapter, RedisCoordinationStore, createKafkaReconciler } from '../../index'
import type { KafkaAdapterOptions, NodeContext } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { REDIS_URL } from './services'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const twoSteps = {
  id: 'two-steps',
  nodes: [
    { id: 'first', uses: 'step' },
    { id: 'second', uses: 'step' },
  ],
  edges: [{ source: 'first', target: 'second' }],
}
const ghost = { id: 'ghost', nodes: [{ id: 'only', uses: 'step' }], edges: [] }

interface Setup {
  options: KafkaAdapterOptions
  worker: KafkaAdapter
  /** Starts runs on a jobs topic no worker reads: their start jobs are lost. */
  lostClient: KafkaAdapter
  calls: Map<string, number>
}

async function setup(stepMs = 0): Promise<Setup> {
  const suffix = uniqueSuffix()
  const calls = new Map<string, number>()
  const step = async (ctx: NodeContext) => {
    const key = `${ctx.dependencies.runId} ${ctx.dependencies.nodeId}`
    calls.set(key, (calls.get(key) ?? 0) + 1)
    if (stepMs > 0) await sleep(stepMs)
    return { output: ctx.dependencies.nodeId }
  }
  // Own status table: the reconciler must see only this test's runs.
  const options = stackOptions({ blueprints: { [twoSteps.id]: twoSteps }, registry: { step } }, suffix, {
    statusTableName: `status_${suffix.replace(/-/g, '_')}`,
  })
  const worker = new KafkaAdapter(options)
  await worker.start()
  const lostClient = new KafkaAdapter({
    ...options,
    runtimeOptions: { blueprints: { [twoSteps.id]: twoSteps, [ghost.id]: ghost }, registry: { step } },
    topicName: `test-lost-jobs-${suffix}`,
    worker: false,
  })
  await lostClient.start()
  return { options, worker, lostClient, calls }
}

async function teardown(s: Setup): Promise<void> {
  await s.lostClient.stop()
  await s.worker.stop()
}

test('a run whose start job was lost is reconciled once stalled, and completes; a healthy run is left alone', async () => {
  const s = await setup()
  try {
    const reconciler = createKafkaReconciler({ adapter: s.worker, stalledThresholdSeconds: 1 })
    const lost = await s.lostClient.startRun('two-steps')
    const healthy = await s.worker.run('two-steps', {}, { timeoutMs: 20000 })
    expect(healthy.status).toBe('completed')
    expect(await reconciler.run()).toEqual({ stalledRuns: 0, reconciledRuns: 0, failedRuns: 0 })
    await sleep(1300)
    expect(await reconciler.run()).toEqual({ stalledRuns: 1, reconciledRuns: 1, failedRuns: 0 })
    const result = await s.worker.waitForRun(lost, { timeoutMs: 20000 })
    expect(result.status).toBe('completed')
    expect(s.calls.get(`${lost} first`)).toBe(1)
    expect(s.calls.get(`${lost} second`)).toBe(1)
    // Final runs leave the index: nothing left to do.
    await sleep(1300)
    expect(await reconciler.run()).toEqual({ stalledRuns: 0, reconciledRuns: 0, failedRuns: 0 })
  } finally {
    await teardown(s)
  }
})

test('a run whose Redis state is gone resumes from the frontier recorded in Cassandra', async () => {
  const s = await setup()
  const redis = new RedisCoordinationStore({ url: REDIS_URL })
  try {
    const reconciler = createKafkaReconciler({ adapter: s.worker, stalledThresholdSeconds: 1 })
    const lost = await s.lostClient.startRun('two-steps')
    // Its start job is lost, and so is what Redis knew of it (one hash per run):
    // no outstanding work, no stamp.
    await redis.delete(`flowcraft:run:${lost}`)
    await sleep(1300)
    expect(await reconciler.run()).toEqual({ stalledRuns: 1, reconciledRuns: 1, failedRuns: 0 })
    const result = await s.worker.waitForRun(lost, { timeoutMs: 20000 })
    expect(result.status).toBe('completed')
    expect(s.calls.get(`${lost} first`)).toBe(1)
    expect(s.calls.get(`${lost} second`)).toBe(1)
  } finally {
    await redis.close()
    await teardown(s)
  }
})

test('a stalled run whose blueprint the workers do not know fails with the reason', async () => {
  const s = await setup()
  try {
    const reconciler = createKafkaReconciler({ adapter: s.worker, stalledThresholdSeconds: 1 })
    const runId = await s.lostClient.startRun('ghost')
    await sleep(1300)
    expect(await reconciler.run()).toEqual({ stalledRuns: 1, reconciledRuns: 0, failedRuns: 1 })
    const result = await s.worker.waitForRun(runId, { timeoutMs: 10000 })
    expect(result.status).toBe('failed')
    expect(result.reason).toContain("blueprint 'ghost'")
    // No node failed it: FlowRuntime's errors[] entry without a nodeId.
    expect(result.errors).toEqual([{ name: 'FlowcraftError', message: result.reason, isFatal: false, timestamp: expect.any(String) }])
  } finally {
    await teardown(s)
  }
})

test('periodic passes bring a lost run back; a node slower than the threshold still runs once', async () => {
  const s = await setup(2500)
  const reconciler = createKafkaReconciler({ adapter: s.worker, stalledThresholdSeconds: 1 })
  try {
    await reconciler.start({ intervalMs: 200 })
    const lost = await s.lostClient.startRun('two-steps')
    const slow = await s.worker.startRun('two-steps')
    for (const runId of [lost, slow]) {
      expect((await s.worker.waitForRun(runId, { timeoutMs: 30000 })).status).toBe('completed')
    }
    for (const runId of [lost, slow]) {
      expect(s.calls.get(`${runId} first`)).toBe(1)
      expect(s.calls.get(`${runId} second`)).toBe(1)
    }
  } finally {
    reconciler.stop()
    await teardown(s)
  }
}, 60000)

test('bad options and an adapter that is not started are refused with a code', async () => {
  const suffix = uniqueSuffix()
  const adapter = new KafkaAdapter(stackOptions({ blueprints: {}, registry: {} }, suffix))
  expect(() => createKafkaReconciler({ adapter, stalledThresholdSeconds: -1 })).toThrow(/stalledThresholdSeconds = -1/)
  expect(() => createKafkaReconciler({ adapter: {} as KafkaAdapter })).toThrow(/must be a KafkaAdapter/)
  await expect(createKafkaReconciler({ adapter }).run()).rejects.toMatchObject({ code: 'ERR_NOT_STARTED' })
})
