// Redelivery, killed workers and stop() under load, on the real stack.
import { KafkaAdapter } from '../../index'
import type { NodeContext } from '../../index'
import { readTopic, withProducer } from './kafka/raw-kafka'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { executions, spawnWorker, stopWorkers, untilAllAssigned, type WorkerHandle } from './kafka/workers'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fanOutWorkflow = require('./kafka/fan-out-workflow.js')

/** Every committed job message on the jobs topic, per `<runId> <nodeId>` (an independent read_committed reader). */
async function jobMessages(topic: string): Promise<Map<string, number>> {
  const messages = await readTopic(topic, Number.MAX_SAFE_INTEGER, 4000)
  const counts = new Map<string, number>()
  for (const message of messages) {
    const job = JSON.parse(message.value!.toString())
    const key = `${job.runId} ${job.nodeId}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

test('a job message delivered twice: its node runs once, the join fires once, successors are published once', async () => {
  const diamond = {
    id: 'diamond',
    nodes: [
      { id: 'a', uses: 'count' },
      { id: 'b', uses: 'count' },
      { id: 'c', uses: 'count' },
      { id: 'join', uses: 'count', config: { joinStrategy: 'all' as const } },
    ],
    edges: [
      { source: 'a', target: 'b' },
      { source: 'a', target: 'c' },
      { source: 'b', target: 'join' },
      { source: 'c', target: 'join' },
    ],
  }
  const runs = new Map<string, number>()
  const registry = {
    count: async (ctx: NodeContext) => {
      runs.set(ctx.dependencies.nodeId, (runs.get(ctx.dependencies.nodeId) ?? 0) + 1)
      return { output: ctx.dependencies.nodeId }
    },
  }
  const options = stackOptions({ blueprints: { diamond }, registry }, uniqueSuffix())
  const client = new KafkaAdapter({ ...options, worker: false })
  await client.start()
  const runId = await client.startRun('diamond')
  const [startJob] = await readTopic(options.topicName!, 1)
  await withProducer('duplicator', (producer) =>
    producer.send({ topic: options.topicName!, messages: [{ key: startJob.key, value: startJob.value }] }),
  )
  const worker = new KafkaAdapter(options)
  await worker.start()
  try {
    const result = await client.waitForRun(runId, { timeoutMs: 30000 })
    expect(result.status).toBe('completed')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(Object.fromEntries(runs)).toEqual({ a: 1, b: 1, c: 1, join: 1 })
    const published = await jobMessages(options.topicName!)
    expect(Object.fromEntries(published)).toEqual({
      [`${runId} a`]: 2, // the original and our duplicate
      [`${runId} b`]: 1,
      [`${runId} c`]: 1,
      [`${runId} join`]: 1,
    })
    expect(await client.publishedResults(runId)).toHaveLength(1)
  } finally {
    await worker.stop()
    await client.stop()
  }
})

test.each(['at-least-once', 'transactional'] as const)('%s: a worker killed (SIGKILL) mid-load and replaced: every run completes with every key, no job handled twice', async (delivery) => {
  const runs = 15
  const options = stackOptions(fanOutWorkflow, uniqueSuffix(), { concurrency: 32, batchMaxN: 32, batchMaxMs: 20, delivery })
  const workers: WorkerHandle[] = [await spawnWorker('fan-out-workflow.js', options)]
  await untilAllAssigned(workers)
  const client = new KafkaAdapter({ ...options, worker: false })
  await client.start()
  try {
    const runIds = await Promise.all(Array.from({ length: runs }, () => client.startRun('fan-out-40')))
    // Kill as soon as the worker has started on the load.
    while (!workers[0].output.some((line) => line.startsWith('EXEC '))) await new Promise((r) => setTimeout(r, 2))
    await new Promise((resolve) => setTimeout(resolve, 30))
    workers[0].child.kill('SIGKILL')
    await workers[0].exited
    workers.push(await spawnWorker('fan-out-workflow.js', options))
    const results = await Promise.all(runIds.map((runId) => client.waitForRun(runId, { timeoutMs: 90000 })))
    for (const result of results) {
      expect(result.status).toBe('completed')
      for (let i = 0; i < fanOutWorkflow.BRANCHES; i++) expect(result.context[`branch.${i}`]).toBe(i)
      expect(result.context['_outputs.join']).toEqual({ keys: fanOutWorkflow.BRANCHES })
    }
    const perNode = executions(workers)
    const reruns = [...perNode.values()].filter((count) => count > 1).length
    // A JS body runs again only if its worker died while it ran: at most the jobs in flight.
    // So a job message published twice (at-least-once: the killed worker's uncommitted
    // jobs republish their successors) is handled once: its copy finds the done marker.
    expect(reruns).toBeLessThanOrEqual(32)
    const published = await jobMessages(options.topicName!)
    const duplicates = [...published.entries()].filter(([, count]) => count > 1)
    // Transactional: the killed worker's successors were never committed.
    if (delivery === 'transactional') expect(duplicates).toEqual([])
    console.log(`${delivery}, killed mid-load: ${runs} runs completed, ${reruns} node bodies ran twice, ${duplicates.length} job messages published twice`)
  } finally {
    await client.stop()
    await stopWorkers(workers)
  }
}, 120000)

test('stop() during load: the worker exits, nothing is lost, a new worker finishes the runs', async () => {
  const slowChain = {
    id: 'slow-chain',
    nodes: Array.from({ length: 5 }, (_, i) => ({ id: `s${i}`, uses: 'slow' })),
    edges: Array.from({ length: 4 }, (_, i) => ({ source: `s${i}`, target: `s${i + 1}` })),
  }
  const registry = { slow: () => new Promise<{ output: number }>((resolve) => setTimeout(() => resolve({ output: 1 }), 50)) }
  const options = stackOptions({ blueprints: { 'slow-chain': slowChain }, registry }, uniqueSuffix(), { concurrency: 8 })
  const client = new KafkaAdapter({ ...options, worker: false })
  await client.start()
  const first = new KafkaAdapter(options)
  await first.start()
  const runIds = await Promise.all(Array.from({ length: 30 }, () => client.startRun('slow-chain')))
  await new Promise((resolve) => setTimeout(resolve, 300))
  const stopping = Date.now()
  await first.stop()
  const stoppedIn = Date.now() - stopping
  expect(stoppedIn).toBeLessThan(15000)
  const second = new KafkaAdapter(options)
  await second.start()
  try {
    const results = await Promise.all(runIds.map((runId) => client.waitForRun(runId, { timeoutMs: 60000 })))
    expect(results.every((r) => r.status === 'completed')).toBe(true)
    console.log(`stop() under load took ${stoppedIn} ms; all 30 runs completed on the next worker`)
  } finally {
    await second.stop()
    await client.stop()
  }
})
