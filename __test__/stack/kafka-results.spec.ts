// Results across processes: every result a run publishes is announced on the results
// topic, a waiter on a process that neither started nor ran the run wakes on it, and a
// waiter that comes after the result reads it from the status row.
import { KafkaAdapter } from '../../index'
import { readTopic } from './kafka/raw-kafka'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { spawnWorker, stopWorkers } from './kafka/workers'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const reviewWorkflow = require('./kafka/review-workflow.js')

interface Announcement {
  runId: string
  status: string
  reason: string | null
  context: Record<string, unknown> | null
  publishedAtMs: number
}

test('results are announced on the results topic and wake waiters on other processes', async () => {
  const options = stackOptions({ blueprints: reviewWorkflow.blueprints, registry: reviewWorkflow.registry }, uniqueSuffix())
  const worker = await spawnWorker('./review-workflow.js', options)
  const starter = new KafkaAdapter({ ...options, worker: false })
  const watcher = new KafkaAdapter({ ...options, worker: false })
  await Promise.all([starter.start(), watcher.start()])
  try {
    const runId = await starter.startRun('review')
    expect((await watcher.waitForRun(runId, { timeoutMs: 30000 })).status).toBe('awaiting')
    await starter.resumeWithAction(runId, 'approve', { by: 'ada' })
    const result = await watcher.waitForRun(runId, { timeoutMs: 30000 })
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.approved']).toBe('approved')

    const messages = await readTopic(options.resultsTopic!, 2)
    const announced: Announcement[] = messages.map((m) => JSON.parse(m.value!.toString()))
    expect(messages.map((m) => m.key)).toEqual([runId, runId])
    expect(announced.map((a) => a.status)).toEqual(['awaiting', 'completed'])
    expect(announced[1].context?.['_outputs.approved']).toBe('approved')

    // A run that takes 8 s: by then a waiter without the topic would re-read the status
    // row only every few seconds.
    const heldId = await starter.startRun('held', { holdMs: 8000 })
    const held = await watcher.waitForRun(heldId, { timeoutMs: 60000 })
    const resolvedAt = Date.now()
    expect(held.status).toBe('completed')
    const record = (await readTopic(options.resultsTopic!, 3)).map((m) => JSON.parse(m.value!.toString()) as Announcement)
    const heldResult = record.find((a) => a.runId === heldId)
    expect(heldResult?.status).toBe('completed')
    expect(resolvedAt - heldResult!.publishedAtMs).toBeLessThan(1500)

    // A waiter that starts after the fact finds the result in the status row.
    const late = new KafkaAdapter({ ...options, worker: false })
    await late.start()
    try {
      const again = await late.waitForRun(runId, { timeoutMs: 10000 })
      expect(again.status).toBe('completed')
      expect(again.context['_outputs.approved']).toBe('approved')
    } finally {
      await late.stop()
    }
  } finally {
    await Promise.all([starter.stop(), watcher.stop()])
    await stopWorkers([worker])
  }
}, 120000)

test('a results topic that collides with another topic is refused with the reason', () => {
  const options = stackOptions({ blueprints: reviewWorkflow.blueprints, registry: reviewWorkflow.registry }, uniqueSuffix())
  expect(() => new KafkaAdapter({ ...options, resultsTopic: options.topicName })).toThrow(
    /resultsTopic = 'test-jobs-.*' is already used/,
  )
})
