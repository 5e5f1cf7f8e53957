// InMemoryAdapter through the JS API: events, node shapes, bad input, shutdown.
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'

import { InMemoryAdapter } from '../../index'
import type { FlowcraftEvent, NodeContext, NodeFunction, WorkflowBlueprint } from '../../index'
import { rejection, thrown } from '../support/caught'

type AnyRegistry = Record<string, any>

function chain(id: string, uses: string[], config: Record<string, unknown> = {}): WorkflowBlueprint {
  const nodes = uses.map((u, i) => ({ id: `n${i}`, uses: u, config }))
  const edges = nodes.slice(1).map((n, i) => ({ source: `n${i}`, target: n.id }))
  return { id, nodes, edges }
}

async function withAdapter<T>(blueprints: WorkflowBlueprint[], registry: AnyRegistry, body: (a: InMemoryAdapter) => Promise<T>, extra: Record<string, unknown> = {}): Promise<T> {
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints, registry, ...extra } })
  await adapter.start()
  try {
    return await body(adapter)
  } finally {
    await adapter.stop()
  }
}

describe('events', () => {
  test('run, node and retry events carry run id, node id, attempt and a timestamp', async () => {
    let calls = 0
    const registry = {
      flaky: async () => {
        calls++
        if (calls < 2) throw new Error('first try fails')
        return { output: 'ok' }
      },
    }
    const events: FlowcraftEvent[] = []
    await withAdapter([chain('ev', ['flaky'], { maxRetries: 2 })], registry, async (adapter) => {
      for (const name of ['run:start', 'node:start', 'node:finish', 'node:retry', 'node:error', 'run:finish'] as const) {
        adapter.on(name, (event) => events.push(event))
      }
      const result = await adapter.run('ev')
      expect(result.status).toBe('completed')
      await new Promise((resolve) => setTimeout(resolve, 50))
    })
    const types = events.map((e) => e.type)
    expect(types.filter((t) => t === 'node:start')).toHaveLength(2)
    expect(types).toContain('node:retry')
    expect(types[0]).toBe('run:start')
    expect(types[types.length - 1]).toBe('run:finish')
    const starts = events.filter((e) => e.type === 'node:start')
    expect(starts.map((e) => e.attempt)).toEqual([1, 2])
    for (const event of events) {
      expect(typeof event.runId).toBe('string')
      expect(event.timestamp).toBeGreaterThan(1.6e12)
    }
    expect(starts[0].nodeId).toBe('n0')
  })

  test('off() removes a listener; unknown event names are refused', async () => {
    const seen: string[] = []
    await withAdapter([chain('off', ['ok'])], { ok: async () => ({ output: 1 }) }, async (adapter) => {
      const listener = (e: FlowcraftEvent) => seen.push(e.type)
      adapter.on('run:finish', listener)
      adapter.off('run:finish', listener)
      await adapter.run('off')
      expect(() => adapter.on('node:started' as any, listener)).toThrow(/unknown event 'node:started'/)
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(seen).toEqual([])
  })
})

describe('node shapes', () => {
  test('class nodes run prep, exec, post; fallback() on the last attempt', async () => {
    const order: string[] = []
    class Greeter {
      constructor(private params: { name: string }, private nodeId: string) {}
      async prep(ctx: NodeContext) {
        order.push('prep')
        return ctx.input ?? this.params.name
      }
      async exec(name: string) {
        order.push('exec')
        return `hello ${name} from ${this.nodeId}`
      }
      async post(text: string) {
        order.push('post')
        return { output: text }
      }
    }
    class Failing {
      async exec() {
        throw new Error('exec broke')
      }
      async fallback(error: Error) {
        return `recovered: ${error.message}`
      }
      async post(value: string) {
        return { output: value }
      }
    }
    const blueprint: WorkflowBlueprint = {
      id: 'classes',
      nodes: [
        { id: 'greet', uses: 'Greeter', params: { name: 'Ada' } },
        { id: 'fail', uses: 'Failing', config: { maxRetries: 2 } },
      ],
      edges: [{ source: 'greet', target: 'fail' }],
    }
    const result = await withAdapter([blueprint], { Greeter, Failing }, (a) => a.run('classes'))
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.greet']).toBe('hello Ada from greet')
    expect(result.context['_outputs.fail']).toBe('recovered: exec broke')
    expect(order).toEqual(['prep', 'exec', 'post'])
  })

  test('a custom evaluator decides conditions', async () => {
    const asked: string[] = []
    const blueprint: WorkflowBlueprint = {
      id: 'eval',
      nodes: [
        { id: 'a', uses: 'ok' },
        { id: 'yes', uses: 'ok' },
        { id: 'no', uses: 'ok' },
      ],
      edges: [
        { source: 'a', target: 'yes', condition: 'take yes' },
        { source: 'a', target: 'no', condition: 'take no' },
      ],
    }
    const evaluator = {
      evaluate(expression: string, scope: Record<string, unknown>) {
        asked.push(expression)
        // Flowcraft's condition scope: the context's keys plus the node's `result`.
        expect(scope).toHaveProperty('result')
        return expression === 'take yes'
      },
    }
    const result = await withAdapter([blueprint], { ok: async () => ({ output: true }) }, (a) => a.run('eval'), { evaluator })
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.yes']).toBe(true)
    expect(result.context).not.toHaveProperty('_outputs.no')
    expect(asked.sort()).toEqual(['take no', 'take yes'])
  })

  test('the AbortSignal fires when an attempt times out', async () => {
    let abortedWith = ''
    const slow: NodeFunction = (ctx) =>
      new Promise((_, reject) => {
        const timer = setTimeout(() => reject(new Error('not aborted')), 2000)
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer)
          abortedWith = String((ctx.signal.reason as Error)?.message ?? ctx.signal.reason)
          reject(new Error('aborted'))
        })
      })
    const result = await withAdapter([chain('slow', ['slow'], { timeout: 30 })], { slow }, (a) => a.run('slow'))
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/timed out/)
    expect(abortedWith).toMatch(/timed out/)
  })

  test('dependencies carry the user dependencies plus runId, nodeId and attempt', async () => {
    let seen: Record<string, unknown> = {}
    const registry = {
      look: async (ctx: NodeContext) => {
        seen = { ...ctx.dependencies }
        return {}
      },
    }
    const result = await withAdapter([chain('deps', ['look'])], registry, (a) => a.run('deps'), { dependencies: { db: 'fake-db' } })
    expect(seen).toMatchObject({ db: 'fake-db', runId: result.runId, nodeId: 'n0', attempt: 1, blueprintId: 'deps' })
  })
})

describe('bad input', () => {
  test('invalid blueprints are refused with every problem listed at once', () => {
    const error = thrown(
      () =>
        new InMemoryAdapter({
          runtimeOptions: {
            blueprints: {
              bad: {
                id: 'bad',
                nodes: [
                  { id: 'a', uses: 'ok' },
                  { id: 'a', uses: 'ok' },
                  { id: 'b', uses: 'ok', config: { joinStrategy: 'some' as any } },
                ],
                edges: [{ source: 'a', target: 'ghost' }],
              },
            },
            registry: { ok: async () => ({}), notAFunction: 42 as any },
          },
        }),
    )
    expect(error.code).toBe('ERR_INVALID_BLUEPRINT')
    expect(error.message).toMatch(/duplicate/i)
    expect(error.message).toMatch(/ghost/)
    expect(error.message).toMatch(/joinStrategy/)
    expect(error.message).toMatch(/registry\['notAFunction'\] is a number/)
  })

  test('missing runtimeOptions and a bad concurrency are named', () => {
    const error = thrown(() => new InMemoryAdapter({ concurrency: 0 } as any))
    expect(error.code).toBe('ERR_INVALID_OPTIONS')
    expect(error.message).toMatch(/runtimeOptions is missing/)
    expect(error.message).toMatch(/concurrency = 0/)
  })

  test('startRun with an unknown blueprint id rejects clearly', async () => {
    await withAdapter([chain('known', ['ok'])], { ok: async () => ({}) }, async (adapter) => {
      const error = await rejection(adapter.startRun('unknown-flow'))
      expect(error.code).toBe('ERR_UNKNOWN_BLUEPRINT')
      expect(error.message).toContain('unknown-flow')
    })
  })

  test('a node returning a non-object, or output that is not JSON, fails that attempt with a message saying so', async () => {
    const registry = {
      text: async () => 'just a string',
      big: async () => ({ output: BigInt(1) }),
    }
    await withAdapter([chain('text', ['text']), chain('big', ['big'])], registry, async (adapter) => {
      const text = await adapter.run('text')
      expect(text.status).toBe('failed')
      expect(text.reason).toMatch(/returned a string/)
      const big = await adapter.run('big')
      expect(big.status).toBe('failed')
      expect(big.reason).toMatch(/not JSON-serialisable/)
    })
  })

  test('context keys __proto__, constructor and prototype never pollute objects handed to JS', async () => {
    let snapshot: Record<string, unknown> = {}
    const registry = {
      write: async (ctx: NodeContext) => {
        await ctx.context.set('__proto__', { polluted: true })
        await ctx.context.set('constructor', 'c')
        await ctx.context.set('prototype', { polluted: true })
        return {}
      },
      read: async (ctx: NodeContext) => {
        snapshot = await ctx.context.toJSON()
        return {}
      },
    }
    const result = await withAdapter([chain('proto', ['write', 'read'])], registry, (a) => a.run('proto'))
    expect(result.status).toBe('completed')
    expect(({} as any).polluted).toBeUndefined()
    // The snapshot is built in Node's main realm (jest runs in a sandbox realm): check
    // its prototype is an untouched Object.prototype, not this realm's identity.
    const proto = Object.getPrototypeOf(snapshot)
    expect(proto.constructor.name).toBe('Object')
    expect(Object.getPrototypeOf(proto)).toBeNull()
    expect(Object.prototype.hasOwnProperty.call(snapshot, '__proto__')).toBe(true)
    expect((snapshot as any).polluted).toBeUndefined()
    expect(Object.prototype.hasOwnProperty.call(result.context, '__proto__')).toBe(true)
    expect((result.context as any).polluted).toBeUndefined()
  })
})

describe('lifecycle', () => {
  test('a script that awaits a run exits by itself, with or without stop()', () => {
    const script = `
      const { InMemoryAdapter } = require(${JSON.stringify(path.resolve(__dirname, '../..'))})
      const adapter = new InMemoryAdapter({ runtimeOptions: {
        blueprints: { one: { id: 'one', nodes: [{ id: 'a', uses: 'ok' }], edges: [] } },
        registry: { ok: async () => ({ output: 1 }) } } })
      adapter.start().then(() => adapter.run('one')).then((r) => console.log(r.status))
    `
    const started = Date.now()
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15000 })
    expect(child.stdout.trim()).toBe('completed')
    expect(child.status).toBe(0)
    expect(Date.now() - started).toBeLessThan(10000)
  })
})

describe('delayed runs', () => {
  test('startRun with { at } and schedule() start the run at that time; a bad `at` is refused', async () => {
    const startedAt: number[] = []
    const registry = {
      stamp: async () => {
        startedAt.push(Date.now())
        return { output: 1 }
      },
    }
    await withAdapter([chain('later', ['stamp'])], registry, async (adapter) => {
      const at = Date.now() + 300
      const runs = [await adapter.startRun('later', {}, { at }), await adapter.schedule('later', {}, at)]
      for (const runId of runs) expect((await adapter.waitForRun(runId, { timeoutMs: 5000 })).status).toBe('completed')
      expect(startedAt).toHaveLength(2)
      for (const time of startedAt) expect(time).toBeGreaterThanOrEqual(at)
      expect(thrown(() => adapter.schedule('later', {}, -1))).toMatchObject({ code: 'ERR_INVALID_ARG' })
    })
  })
})

describe('many runs', () => {
  const double = {
    id: 'double',
    nodes: [{ id: 'twice', uses: 'twice' }],
    edges: [],
  }
  const registry = {
    twice: async (ctx: NodeContext) => {
      const n = (await ctx.context.get('n')) as number
      // Later inputs finish first, so completion order differs from input order.
      await new Promise((resolve) => setTimeout(resolve, 50 - n * 10))
      return { output: n * 2 }
    },
  }

  test('runMany resolves in input order; runEach yields as runs finish', async () => {
    await withAdapter([double], registry, async (adapter) => {
      const inputs = [0, 1, 2, 3, 4].map((n) => ({ n }))
      const results = await adapter.runMany('double', inputs, { concurrency: 5 })
      expect(results.map((r) => r.context['_outputs.twice'])).toEqual([0, 2, 4, 6, 8])
      const order: number[] = []
      for await (const entry of adapter.runEach('double', inputs, { concurrency: 5 })) {
        expect(entry.result?.status).toBe('completed')
        expect(entry.result?.context['_outputs.twice']).toBe(entry.index * 2)
        order.push(entry.index)
      }
      expect([...order].sort()).toEqual([0, 1, 2, 3, 4])
      expect(order).not.toEqual([0, 1, 2, 3, 4])
      const failed: Array<{ index: number; code?: string }> = []
      for await (const entry of adapter.runEach('no-such-blueprint', [{}])) failed.push({ index: entry.index, code: entry.error?.code })
      expect(failed).toEqual([{ index: 0, code: 'ERR_UNKNOWN_BLUEPRINT' }])
      await expect(adapter.runMany('no-such-blueprint', [{}])).rejects.toMatchObject({ code: 'ERR_UNKNOWN_BLUEPRINT' })
      expect(thrown(() => adapter.runMany('double', inputs, { concurrency: 0 }))).toMatchObject({ code: 'ERR_INVALID_ARG' })
    })
  })
})

describe('context views', () => {
  // A context over 16 keys stays in Rust and is read key by key: the node must see the
  // same thing either way.
  for (const keys of [4, 40]) {
    test(`a node reads, writes and deletes the same way with ${keys} keys in its context`, async () => {
      const initial: Record<string, unknown> = {}
      for (let i = 0; i < keys; i++) initial[`k${i}`] = { i, tag: `v${i}` }
      const seen: unknown[] = []
      const registry = {
        probe: async (ctx: NodeContext) => {
          const c = ctx.context
          seen.push(await c.get('k1'), await c.get('missing'), await c.has('k2'), await c.has('missing'))
          await c.set('k1', 'changed')
          await c.set('fresh', [1, 2])
          seen.push(await c.get('k1'), await c.delete('k2'), await c.has('k2'), await c.delete('never'))
          const all = (await c.toJSON()) as Record<string, unknown>
          seen.push(Object.keys(all).length, all.k1, all.fresh, 'k2' in all, all.k3)
          return { output: 'done' }
        },
      }
      await withAdapter([chain('views', ['probe'])], registry, async (adapter) => {
        const result = await adapter.run('views', initial, { timeoutMs: 10000 })
        expect(result.status).toBe('completed')
        expect(result.context.k1).toBe('changed')
        expect(result.context.fresh).toEqual([1, 2])
        expect('k2' in result.context).toBe(false)
      })
      // Context keys the engine adds (blueprint id and version) count as well.
      const extra = (seen[8] as number) - keys
      expect(seen).toEqual([{ i: 1, tag: 'v1' }, undefined, true, false, 'changed', true, false, false, keys + extra, 'changed', [1, 2], false, { i: 3, tag: 'v3' }])
      expect(extra).toBeGreaterThanOrEqual(1)
    })
  }
})

test("a Map registry (Flowcraft's getFunctionRegistry()) works like an object", async () => {
  const registry = new Map<string, NodeFunction>([
    ['first', async () => ({ output: 1 })],
    ['second', async (ctx: NodeContext) => ({ output: (ctx.input as number) + 1 })],
  ])
  const flow = chain('mapped', ['first', 'second'])
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: [flow], registry } })
  await adapter.start()
  try {
    const result = await adapter.waitForRun(await adapter.startRun('mapped'))
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.n1']).toBe(2)
  } finally {
    await adapter.stop()
  }
})
