// Bad messages on the jobs topic: each goes to the error topic with its reason, the
// worker keeps going and every good run completes.
import { KafkaAdapter } from '../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { readTopic, withProducer } from './kafka/raw-kafka'

const chain = {
  id: 'chain',
  nodes: [
    { id: 'a', uses: 'step' },
    { id: 'b', uses: 'step' },
  ],
  edges: [{ source: 'a', target: 'b' }],
}
const registry = { step: async (ctx: { input?: number }) => ({ output: (ctx.input ?? 0) + 1 }) }

function badMessage(i: number): { key: string; value: string; expectReason: RegExp } {
  const runId = `bad-run-${i}`
  switch (i % 5) {
    case 0:
      return { key: runId, value: `{not json ${i}`, expectReason: /JSON/i }
    case 1:
      return { key: runId, value: JSON.stringify({ runId, nodeId: 'a' }), expectReason: /blueprintId/ }
    case 2:
      return { key: runId, value: JSON.stringify({ runId, blueprintId: 'no-such-flow', nodeId: 'a' }), expectReason: /no-such-flow/ }
    case 3:
      return { key: runId, value: JSON.stringify({ runId, blueprintId: 'chain', nodeId: 'ghost' }), expectReason: /ghost/ }
    default:
      return { key: runId, value: JSON.stringify({ runId, blueprintId: 'chain', nodeId: 'a', pad: 'x'.repeat(8192) }), expectReason: /size|large|bytes/i }
  }
}

test('100 bad messages mixed with good runs: all bad ones in the error topic with reasons, all good runs complete', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions({ blueprints: { chain }, registry }, suffix, { maxMessageBytes: 4096, concurrency: 16 })
  const adapter = new KafkaAdapter(options)
  await adapter.start()
  try {
    const bad = Array.from({ length: 100 }, (_, i) => badMessage(i))
    const goodRuns: Array<Promise<string>> = []
    await withProducer(`bad-input-${suffix}`, async (producer) => {
      for (let i = 0; i < bad.length; i += 10) {
        await producer.send({ topic: options.topicName!, messages: bad.slice(i, i + 10).map(({ key, value }) => ({ key, value })) })
        goodRuns.push(adapter.startRun('chain'))
      }
    })
    const runIds = await Promise.all(goodRuns)
    const results = await Promise.all(runIds.map((runId) => adapter.waitForRun(runId, { timeoutMs: 60000 })))
    for (const result of results) {
      expect(result.status).toBe('completed')
      expect(result.context['_outputs.b']).toBe(2)
    }
    const letters = await readTopic(options.errorTopic!, bad.length)
    expect(letters).toHaveLength(bad.length)
    const byKey = new Map(letters.map((letter) => [letter.key, letter]))
    for (const { key, value, expectReason } of bad) {
      const letter = byKey.get(key)
      expect(letter).toBeDefined()
      expect(letter!.headers['flowcraft-error-reason']).toMatch(expectReason)
      // The original bytes travel with the reason (cut when oversize).
      expect(value.startsWith(letter!.value!.toString().slice(0, 64))).toBe(true)
    }
    // Jobs naming an unknown blueprint or node also fail their run, once, with the reason.
    const unknownBlueprint = await adapter.waitForRun('bad-run-2', { timeoutMs: 10000 })
    expect(unknownBlueprint.status).toBe('failed')
    expect(unknownBlueprint.reason).toMatch(/no-such-flow/)
  } finally {
    await adapter.stop()
  }
})
