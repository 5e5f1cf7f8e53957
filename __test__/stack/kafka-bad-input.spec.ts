// Bad messages on the jobs topic: each goes to the error topic with its reason, the
// worker keeps going and every good run completes.
import { KafkaAdapter } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { readTopic, settledCommits, withProducer } from './kafka/raw-kafka'
import { rejection } from '../support/caught'

const chain = {
  id: 'chain',
  nodes: [
    { id: 'a', uses: 'step' },
    { id: 'b', uses: 'step' },
  ],
  edges: [{ source: 'a', target: 'b' }],
}
const registry = { step: async (ctx: { input?: number }) => ({ output: (ctx.input ?? 0) + 1 }) }

interface BadMessage {
  key: string
  value: string
  expectReason: RegExp
  headers?: Record<string, string>
}

function badMessage(i: number): BadMessage {
  const runId = `bad-run-${i}`
  const headers = { 'x-trace': `trace-${i}` }
  switch (i % 5) {
    case 0:
      return { key: runId, value: `{not json ${i}`, expectReason: /JSON/i, headers }
    case 1:
      return { key: runId, value: JSON.stringify({ runId, nodeId: 'a' }), expectReason: /blueprintId/ }
    case 2:
      return { key: runId, value: JSON.stringify({ runId, blueprintId: 'no-such-flow', nodeId: 'a' }), expectReason: /no-such-flow/ }
    case 3:
      // Refused by the engine (not the decoder), under a key other than its run id.
      return { key: `other-key-${i}`, value: JSON.stringify({ runId, blueprintId: 'chain', nodeId: 'ghost' }), expectReason: /ghost/, headers }
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
        await producer.send({ topic: options.topicName!, messages: bad.slice(i, i + 10).map(({ key, value, headers }) => ({ key, value, headers })) })
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
    for (const { key, value, expectReason, headers } of bad) {
      // The letter keeps the original key and headers, whoever refused the message.
      const letter = byKey.get(key)
      expect(letter).toBeDefined()
      expect(letter!.headers['flowcraft-error-reason']).toMatch(expectReason)
      if (headers) expect(letter!.headers['x-trace']).toBe(headers['x-trace'])
      // The original bytes travel with the reason (cut when oversize).
      expect(value.startsWith(letter!.value!.toString().slice(0, 64))).toBe(true)
    }
    // A stray job (here for runs no client started) fails or creates no run.
    for (const runId of ['bad-run-2', 'bad-run-3', 'bad-run-4']) expect(await adapter.publishedResults(runId)).toEqual([])
  } finally {
    await adapter.stop()
  }
})

function nested(depth: number): unknown {
  let value: unknown = 'leaf'
  for (let level = 1; level < depth; level++) value = [value]
  return value
}

test('run ids, a run id taken and values too deep are refused up front; just inside the limits works end to end', async () => {
  const suffix = uniqueSuffix()
  const echo = async (ctx: { input?: unknown }) => ({ output: ctx.input })
  const shape = {
    id: 'shape',
    nodes: [{ id: 'make', uses: 'build' }, { id: 'keep', uses: 'echo' }],
    edges: [{ source: 'make', target: 'keep' }],
  }
  const build = async (ctx: { context: { get(key: string): Promise<unknown> } }) => ({ output: nested((await ctx.context.get('depth')) as number) })
  const options = stackOptions({ blueprints: { chain, shape }, registry: { ...registry, echo, build } }, suffix, { concurrency: 8 })
  const adapter = new KafkaAdapter(options)
  await adapter.start()
  try {
    for (const runId of ['', 'a\u0000b', 'r'.repeat(257)]) {
      const refused = await rejection(adapter.startRun('chain', {}, { runId }))
      expect(refused.code).toBe('ERR_INVALID_RUN_ID')
      expect(refused.message.length).toBeLessThan(200)
    }
    const longest = `${suffix}-`.padEnd(256, 'r')
    await adapter.startRun('chain', { tag: 1 }, { runId: longest })
    expect((await adapter.waitForRun(longest, { timeoutMs: 30000 })).status).toBe('completed')
    const taken = await rejection(adapter.startRun('chain', { tag: 2 }, { runId: longest }))
    expect(taken.code).toBe('ERR_RUN_EXISTS')
    expect((await adapter.waitForRun(longest, { timeoutMs: 30000 })).context.tag).toBe(1)
    await adapter.startRun('chain', { tag: 3 }, { runId: longest, ifExists: 'overwrite' })
    // A bad option is thrown at once, as every ERR_INVALID_ARG.
    expect(() => adapter.startRun('chain', {}, { runId: 'x', ifExists: 'maybe' as 'refuse' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
    )

    const tooDeep = await rejection(adapter.startRun('chain', { doc: nested(101) }))
    expect(tooDeep.code).toBe('ERR_INVALID_INPUT')
    // 100 levels: stored, passed on, and read back by waitForRun.
    const under = await adapter.run('shape', { depth: 100 }, { timeoutMs: 30000 })
    expect(under.status).toBe('completed')
    expect(under.context['_outputs.keep']).toEqual(nested(100))
    for (const depth of [101, 127, 200]) {
      const over = await adapter.run('shape', { depth }, { timeoutMs: 30000 })
      expect(over.status).toBe('failed')
      expect(over.reason).toMatch(/node 'make'|node's result/)
      expect(over.reason).toMatch(/at most 100/)
      // Through the status row and the results topic: the failed node as FlowRuntime's errors[].
      expect(over.errors).toEqual([expect.objectContaining({ nodeId: 'make', message: over.reason, isFatal: false })])
    }
  } finally {
    await adapter.stop()
  }
})

test('values too large fail their run with the limit, never a retry loop; just inside and large writes work end to end', async () => {
  const suffix = uniqueSuffix()
  const MiB = 1024 * 1024
  const echo = async (ctx: { input?: unknown }) => ({ output: ctx.input })
  const make = async (ctx: { context: { get(key: string): Promise<unknown> } }) => ({ output: 'x'.repeat((await ctx.context.get('bytes')) as number) })
  const sized = {
    id: 'sized',
    nodes: [{ id: 'make', uses: 'make' }, { id: 'keep', uses: 'echo' }],
    edges: [{ source: 'make', target: 'keep' }],
  }
  const targets = ['k1', 'k2', 'k3', 'k4']
  const spread = {
    id: 'spread',
    nodes: [{ id: 'make', uses: 'make' }, ...targets.map((id) => ({ id, uses: 'echo' }))],
    edges: targets.map((target) => ({ source: 'make', target })),
  }
  const blueprints = { chain, sized, spread }
  const options = stackOptions({ blueprints, registry: { ...registry, echo, make } }, suffix, { concurrency: 4 })
  const adapter = new KafkaAdapter(options)
  await adapter.start()
  try {
    // 4 MiB of JSON (the quotes included) is the most one value holds. Kept by its successor,
    // the final context is 12 MiB: too large for the status row and a results message,
    // waitForRun reads it back from the context table.
    const under = await adapter.run('sized', { bytes: 4 * MiB - 2 }, { timeoutMs: 60000 })
    expect(under.status).toBe('completed')
    expect((under.context['_outputs.keep'] as string).length).toBe(4 * MiB - 2)
    const over = await adapter.run('sized', { bytes: 4 * MiB - 1 }, { timeoutMs: 60000 })
    expect(over.status).toBe('failed')
    expect(over.reason).toMatch(/node 'make'/)
    expect(over.reason).toMatch(/4194305 bytes of JSON; at most 4194304/)

    // Copied to four successors the output makes a 17.5 MiB write, more than Cassandra
    // takes in one request: it is written in several and the run completes.
    const spreadRun = await adapter.run('spread', { bytes: 3.5 * MiB }, { timeoutMs: 60000 })
    expect(spreadRun.status).toBe('completed')
    for (const target of targets) expect((spreadRun.context[`_outputs.${target}`] as string).length).toBe(3.5 * MiB)
    const later = await Promise.all(Array.from({ length: 12 }, () => adapter.run('chain', {}, { timeoutMs: 60000 })))
    expect(later.map((result) => result.status)).toEqual(later.map(() => 'completed'))
    expect(await settledCommits(options.topicName!, options.groupId!)).toBe(0)
  } finally {
    await adapter.stop()
  }
})
