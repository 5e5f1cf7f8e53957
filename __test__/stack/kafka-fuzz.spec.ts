// Fuzz on the real stack: 10,000 bad messages (random bytes, wrong types, oversize, deep
// nesting, huge ids, forged ids and fields for live runs) interleaved with 100 good
// runs. The worker stays up, every good run completes unchanged, every bad message is
// in the error topic with a reason, and the committed offsets reach the topic's end.
import { randomUUID } from 'node:crypto'

import { KafkaAdapter } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { readTopic, settledCommits, withProducer } from './kafka/raw-kafka'
import { countingRegistry, nappingBlueprint } from './kafka/napping-workflow'

const BAD = 10_000
const GOOD = 100
const GROUPS = 10
const SLEEP_MS = 15_000
const MAX_MESSAGE_BYTES = 4096

const sleepy = nappingBlueprint('sleepy', SLEEP_MS)
const counting = countingRegistry()
const registry = counting.registry

// Small deterministic PRNG (mulberry32), so a failure can be replayed.
function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function nested(depth: number): string {
  return '['.repeat(depth) + '"leaf"' + ']'.repeat(depth)
}

function badMessage(random: () => number, liveRuns: string[], i: number): { key: string; value: Buffer } {
  const pick = <T,>(items: T[]): T => items[Math.floor(random() * items.length)]
  const runId = liveRuns.length > 0 && random() < 0.6 ? pick(liveRuns) : `fuzz-${i}`
  const json = (value: unknown) => Buffer.from(JSON.stringify(value))
  const node = pick(['before', 'nap', 'left', 'right', 'join', 'ghost', ''])
  const kinds: Array<() => Buffer> = [
    () => Buffer.from(Array.from({ length: 1 + Math.floor(random() * 200) }, () => Math.floor(random() * 256))),
    () => json(pick([null, 42, 'job', [1, 2], true])),
    () => json({ runId: pick([7, null, [], {}]), blueprintId: 'sleepy', nodeId: node, jobId: randomUUID() }),
    () => json({ runId, blueprintId: 'sleepy', nodeId: node, jobId: randomUUID(), attempt: pick(['x', -1, 1.5]) }),
    () => json({ runId, blueprintId: 'sleepy', nodeId: 'left', jobId: randomUUID(), pad: 'x'.repeat(MAX_MESSAGE_BYTES) }),
    () => Buffer.from(`{"runId":"${runId}","blueprintId":"sleepy","nodeId":"left","jobId":"${randomUUID()}","deep":${nested(200)}}`),
    () => json({ runId: 'r'.repeat(20_000).slice(0, 3000 + Math.floor(random() * 1000)), blueprintId: 'sleepy', nodeId: 'before' }),
    // Forged ids and fields for live runs: the engine refuses them.
    () => json({ runId, blueprintId: 'sleepy', nodeId: node || 'left', jobId: randomUUID() }),
    () => json({ runId, blueprintId: 'sleepy', nodeId: 'left', jobId: randomUUID(), attempt: 1 + Math.floor(random() * 5) }),
    () => json({ runId, blueprintId: 'sleepy', nodeId: 'nap', jobId: randomUUID(), phase: 'wake' }),
    () =>
      json({
        runId,
        blueprintId: 'sleepy',
        nodeId: 'left',
        jobId: randomUUID(),
        dynamic: { uses: 'step', inputKey: 'blueprintId', scatterNodeId: 'before', gatherNodeId: 'join', batchId: 'b', index: 0, total: 1, chunkSize: 1 },
      }),
    () => json({ runId, blueprintId: pick(['sleepy', 'other']), nodeId: pick(['before', 'left']) }),
    () => json({ runId, blueprintId: 'sleepy', nodeId: '\u0000\u{1F600}', jobId: '\u{1F600}\u0000' }),
  ]
  return { key: random() < 0.8 ? runId.slice(0, 200) : `other-${i}`, value: pick(kinds)() }
}

test('10,000 bad messages among 100 good runs: all runs correct, all bad messages dead-lettered with reasons, offsets at the end', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions({ blueprints: { sleepy }, registry }, suffix, { maxMessageBytes: MAX_MESSAGE_BYTES, concurrency: 32 })
  const adapter = new KafkaAdapter(options)
  await adapter.start()
  const random = prng(0x5eed)
  try {
    const runIds: string[] = []
    await withProducer(`fuzz-${suffix}`, async (producer) => {
      for (let group = 0; group < GROUPS; group++) {
        runIds.push(...(await Promise.all(Array.from({ length: GOOD / GROUPS }, () => adapter.startRun('sleepy')))))
        const perGroup = BAD / GROUPS
        const messages = Array.from({ length: perGroup }, (_, j) => badMessage(random, runIds, group * perGroup + j))
        for (let at = 0; at < messages.length; at += 500) {
          await producer.send({ topic: options.topicName!, messages: messages.slice(at, at + 500) })
        }
      }
    })
    const results = await Promise.all(runIds.map((runId) => adapter.waitForRun(runId, { timeoutMs: 120_000 })))
    for (const result of results) {
      expect(result.status).toBe('completed')
      expect(result.context['_outputs.before']).toBe(1)
      expect(result.context['_outputs.left']).toBe(2)
      expect(result.context['_outputs.right']).toBe(2)
    }
    // No forged job called a function: three calls per run.
    expect(counting.calls()).toBe(3 * GOOD)
    const letters = await readTopic(options.errorTopic!, BAD, 60_000)
    expect(letters).toHaveLength(BAD)
    for (const letter of letters) expect(letter.headers['flowcraft-error-reason']).toMatch(/\w/)
    expect(await settledCommits(options.topicName!, options.groupId!, 60_000)).toBe(0)
    // The worker is still up: one more run goes through.
    expect((await adapter.run('sleepy', {}, { timeoutMs: 60_000 })).status).toBe('completed')
  } finally {
    await adapter.stop()
  }
}, 300_000)
