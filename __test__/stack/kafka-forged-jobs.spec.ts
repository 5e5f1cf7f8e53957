// Jobs that cannot be forged into effect (no signing key): a worker handles a message
// only when its run reserved that very job under its id. Forged, stray and replayed
// jobs go to the error topic with the reason and change no run.
import { randomUUID } from 'node:crypto'

import { CassandraContext, KafkaAdapter } from '../../index'
import { stackOptions, uniqueSuffix, TEST_KEYSPACE } from './kafka/stack-options'
import { readTopic, settledCommits, withProducer } from './kafka/raw-kafka'
import { CASSANDRA_CONTACT_POINTS } from './services'
import { countingRegistry, nappingBlueprint } from './kafka/napping-workflow'

const SLEEP_MS = 3000

const napping = nappingBlueprint('napping', SLEEP_MS)
const counting = countingRegistry()
const registry = counting.registry

interface Forged {
  key: string
  value: string
}

function forgeries(runId: string): Forged[] {
  const job = (fields: Record<string, unknown>) => ({ key: runId, value: JSON.stringify({ runId, blueprintId: 'napping', ...fields }) })
  return [
    // The node after the sleep, under a made-up id.
    job({ nodeId: 'left', jobId: randomUUID() }),
    // Retries skipped ahead.
    job({ nodeId: 'before', jobId: randomUUID(), attempt: 3 }),
    // A dynamic node running any registered function on any context value.
    job({
      nodeId: 'left',
      jobId: randomUUID(),
      dynamic: { uses: 'step', inputKey: 'blueprintId', scatterNodeId: 'before', gatherNodeId: 'join', batchId: 'b', index: 0, total: 1, chunkSize: 1 },
    }),
    // A wake-up of the sleep, to cut it short.
    job({ nodeId: 'nap', jobId: randomUUID(), phase: 'wake' }),
    // The reference format, for a run the engine started.
    job({ nodeId: 'before' }),
    // A node the blueprint does not have: fails no run.
    job({ nodeId: 'ghost', jobId: randomUUID() }),
  ]
}

test('forged and stray jobs for sleeping runs are refused with reasons; the runs complete unchanged, the sleeps whole', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions({ blueprints: { napping }, registry }, suffix, { concurrency: 8 })
  const adapter = new KafkaAdapter(options)
  await adapter.start()
  try {
    const runIds = await Promise.all(Array.from({ length: 4 }, () => adapter.startRun('napping')))
    const started = Date.now()
    // Let every run reach its sleep.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const callsBefore = counting.calls()
    const stray = [`never-started-${suffix}`, `also-never-${suffix}`].flatMap(forgeries)
    const forged = [...runIds.flatMap(forgeries), ...stray]
    await withProducer(`forged-${suffix}`, (producer) => producer.send({ topic: options.topicName!, messages: forged }))
    const results = await Promise.all(runIds.map((runId) => adapter.waitForRun(runId, { timeoutMs: 60000 })))
    for (const result of results) {
      expect(result.status).toBe('completed')
      expect(result.context['_outputs.before']).toBe(1)
      expect(result.context['_outputs.left']).toBe(2)
      expect(result.context['_outputs.right']).toBe(2)
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(SLEEP_MS - 200)
    // Only the real jobs called a function: left and right of each run.
    expect(counting.calls() - callsBefore).toBe(2 * runIds.length)
    const letters = await readTopic(options.errorTopic!, forged.length)
    expect(letters).toHaveLength(forged.length)
    for (const letter of letters) {
      expect(letter.headers['flowcraft-error-reason']).toMatch(/is not one its run expects/)
    }
    const reasons = letters.map((letter) => letter.headers['flowcraft-error-reason'])
    expect(reasons.filter((reason) => /started by the engine/.test(reason))).toHaveLength(runIds.length)
    for (const runId of [`never-started-${suffix}`, `also-never-${suffix}`]) expect(await adapter.publishedResults(runId)).toEqual([])
    expect(await settledCommits(options.topicName!, options.groupId!)).toBe(0)
  } finally {
    await adapter.stop()
  }
})

test('a reference client seeds a run and publishes its start job: it runs once, a second start message is refused', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions({ blueprints: { napping }, registry }, suffix, { concurrency: 4 })
  const adapter = new KafkaAdapter(options)
  await adapter.start()
  try {
    const runId = `reference-${suffix}`
    // What the reference client does: the context, then `{runId, blueprintId, nodeId}`.
    const context = new CassandraContext({
      cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS, localDataCenter: 'datacenter1' },
      keyspace: TEST_KEYSPACE,
      runId,
    })
    await context.set('blueprintId', 'napping')
    const start = { key: runId, value: JSON.stringify({ runId, blueprintId: 'napping', nodeId: 'before' }) }
    await withProducer(`reference-${suffix}`, (producer) => producer.send({ topic: options.topicName!, messages: [start] }))
    // While it sleeps, the same start again (a second message, not a redelivery).
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await withProducer(`reference-again-${suffix}`, (producer) => producer.send({ topic: options.topicName!, messages: [start] }))
    const result = await adapter.waitForRun(runId, { timeoutMs: 60000 })
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.left']).toBe(2)
    expect(result.context['_outputs.right']).toBe(2)
    const [letter] = await readTopic(options.errorTopic!, 1)
    expect(letter.headers['flowcraft-error-reason']).toMatch(/another message started that node/)
    expect(await adapter.publishedResults(runId)).toHaveLength(1)
    expect(await settledCommits(options.topicName!, options.groupId!)).toBe(0)
  } finally {
    await adapter.stop()
  }
})
