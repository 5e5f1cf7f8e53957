// Behaviours where Flowcraft's FlowRuntime is the oracle (issue: drop-in), each expectation
// read from Flowcraft's runtime (ClassNodeExecutor, withRetries, NodeExecutor): class node
// phases, fatal errors, and what `ctx.input` is when a node has no input.
import { InMemoryAdapter } from '../../index'
import type { NodeContext, WorkflowBlueprint } from '../../index'
import { JOIN_SCENARIOS, joinBlueprint, joinRegistry, whatRan } from '../support/join-other-edge'

type AnyRegistry = Record<string, any>

async function run(blueprint: WorkflowBlueprint, registry: AnyRegistry) {
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: [blueprint], registry }, logLevel: 'silent' })
  await adapter.start()
  try {
    return await adapter.run(blueprint.id)
  } finally {
    await adapter.stop()
  }
}

function single(id: string, uses: string, config: Record<string, unknown>, extra: WorkflowBlueprint['nodes'] = []): WorkflowBlueprint {
  return { id, nodes: [{ id: 'node', uses, config }, ...extra], edges: [] }
}

// A flaky class node recording its phases; exec fails `failures` times.
function recorder(failures: number, log: string[], prepared: () => unknown = () => ({ token: 'prepared once' })) {
  return class Flaky {
    async prep() {
      log.push('prep')
      return prepared()
    }
    async exec(input: unknown) {
      log.push(`exec:${JSON.stringify(input)}`)
      if (log.filter((entry) => entry.startsWith('exec')).length <= failures) throw new Error('exec broke')
      return { output: input }
    }
    async fallback(error: Error) {
      log.push('fallback')
      return { output: `fell back: ${error.message}` }
    }
    async post(result: unknown) {
      log.push('post')
      return result
    }
    async recover(error: Error) {
      log.push(`recover:${error.message}`)
    }
  }
}

describe('class nodes: only exec is retried', () => {
  test.each([
    ['retried at once', {}],
    ['retried after a delay (a new job)', { retryDelay: 20 }],
  ])('%s: prep once, exec per attempt, its result handed to every attempt; no recover after a success', async (_name, delay) => {
    const log: string[] = []
    const result = await run(single('prep-once', 'Flaky', { maxRetries: 3, ...delay }), { Flaky: recorder(2, log) })
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.node']).toEqual({ token: 'prepared once' })
    const exec = 'exec:{"token":"prepared once"}'
    expect(log).toEqual(['prep', exec, exec, exec, 'post'])
  })

  test('every attempt fails: fallback once, then post, then recover once with the error', async () => {
    const log: string[] = []
    const result = await run(single('exhausted', 'Flaky', { maxRetries: 3 }), { Flaky: recorder(9, log) })
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.node']).toBe('fell back: exec broke')
    expect(log.filter((entry) => entry === 'prep')).toHaveLength(1)
    expect(log.filter((entry) => entry.startsWith('exec'))).toHaveLength(3)
    expect(log.slice(-3)).toEqual(['fallback', 'post', 'recover:exec broke'])
  })

  test('prep that fails is not retried: exec never runs, recover runs once, the fallback node applies', async () => {
    const log: string[] = []
    class BadPrep {
      async prep() {
        log.push('prep')
        throw new Error('prep broke')
      }
      async exec() {
        log.push('exec')
      }
      async recover(error: Error) {
        log.push(`recover:${error.message}`)
      }
    }
    const failed = await run(single('bad-prep', 'BadPrep', { maxRetries: 3 }), { BadPrep })
    expect(failed.status).toBe('failed')
    expect(failed.reason).toContain('prep broke')
    expect(log).toEqual(['prep', 'recover:prep broke'])
    const withFallback = single('bad-prep-fallback', 'BadPrep', { maxRetries: 3, fallback: 'spare' }, [{ id: 'spare', uses: 'spare' }])
    const rescued = await run(withFallback, { BadPrep, spare: async () => ({ output: 'spare ran' }) })
    expect(rescued.status).toBe('completed')
    expect(rescued.context['_outputs.spare']).toBe('spare ran')
  })

  test('a prep result that is not plain data (a class instance) is made again by prep for the next attempt', async () => {
    class Handle {
      constructor(readonly id: number) {}
    }
    let made = 0
    const log: string[] = []
    const result = await run(single('live-prep', 'Flaky', { maxRetries: 2 }), { Flaky: recorder(1, log, () => new Handle(++made)) })
    expect(result.status).toBe('completed')
    expect(log.filter((entry) => entry === 'prep')).toHaveLength(2)
  })
})

describe('fatal errors (FlowcraftError with isFatal: true)', () => {
  function fatal(message: string) {
    return Object.assign(new Error(message), { name: 'FlowcraftError', isFatal: true })
  }

  test('a function node is not retried and its fallback node does not run', async () => {
    let calls = 0
    let spare = 0
    const blueprint = single('fatal-fn', 'doomed', { maxRetries: 4, fallback: 'spare' }, [{ id: 'spare', uses: 'spare' }])
    const result = await run(blueprint, {
      doomed: async () => {
        calls++
        throw fatal('cannot go on')
      },
      spare: async () => {
        spare++
        return { output: 'spare' }
      },
    })
    expect(result.status).toBe('failed')
    expect(result.reason).toContain('cannot go on')
    expect(calls).toBe(1)
    expect(spare).toBe(0)
    expect(result.errors).toEqual([expect.objectContaining({ name: 'FlowcraftError', nodeId: 'node', isFatal: true })])
  })

  test('a class node: no retry, no fallback(), recover() once', async () => {
    const log: string[] = []
    class Doomed {
      async exec() {
        log.push('exec')
        throw fatal('fatal in exec')
      }
      async fallback() {
        log.push('fallback')
        return { output: 'no' }
      }
      async recover(error: Error) {
        log.push(`recover:${error.message}`)
      }
    }
    const result = await run(single('fatal-class', 'Doomed', { maxRetries: 3 }), { Doomed })
    expect(result.status).toBe('failed')
    expect(log).toEqual(['exec', 'recover:fatal in exec'])
  })

  test('an ordinary error is still retried', async () => {
    let calls = 0
    const result = await run(single('plain', 'flaky', { maxRetries: 3 }), {
      flaky: async () => {
        calls++
        if (calls < 3) throw Object.assign(new Error('transient'), { isFatal: false })
        return { output: calls }
      },
    })
    expect(result.status).toBe('completed')
    expect(calls).toBe(3)
  })
})

describe('ctx.input', () => {
  test('undefined for a start node and after a node with no output; null when the output was null', async () => {
    const seen: Record<string, { has: boolean; value: unknown }> = {}
    const record = (id: string) => async (ctx: NodeContext) => {
      seen[id] = { has: ctx.input !== undefined, value: ctx.input }
      return id === 'nothing' ? {} : id === 'nullish' ? { output: null } : { output: id }
    }
    const blueprint: WorkflowBlueprint = {
      id: 'inputs',
      nodes: ['start', 'nothing', 'afterNothing', 'nullish', 'afterNull'].map((id) => ({ id, uses: id })),
      edges: [
        { source: 'start', target: 'nothing' },
        { source: 'nothing', target: 'afterNothing' },
        { source: 'afterNothing', target: 'nullish' },
        { source: 'nullish', target: 'afterNull' },
      ],
    }
    const registry = Object.fromEntries(['start', 'nothing', 'afterNothing', 'nullish', 'afterNull'].map((id) => [id, record(id)]))
    const result = await run(blueprint, registry)
    expect(result.status).toBe('completed')
    expect(seen.start).toEqual({ has: false, value: undefined })
    expect(seen.nothing).toEqual({ has: true, value: 'start' })
    expect(seen.afterNothing).toEqual({ has: false, value: undefined })
    expect(seen.afterNull).toEqual({ has: true, value: null })
  })
})

describe('values JSON cannot hold, given to startRun', () => {
  test('NaN, Infinity, holes and undefined are written as JSON.stringify writes them', async () => {
    const blueprint: WorkflowBlueprint = { id: 'echo-context', nodes: [{ id: 'only', uses: 'noop' }], edges: [] }
    const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: [blueprint], registry: { noop: async () => ({}) } } })
    await adapter.start()
    try {
      // eslint-disable-next-line no-sparse-arrays
      const sparse = [1, , 3]
      const result = await adapter.run('echo-context', {
        nan: NaN,
        inf: -Infinity,
        sparse,
        gone: undefined,
        when: new Date(0),
        nested: { deep: [NaN] },
      })
      expect(result.status).toBe('completed')
      expect(result.context.nan).toBeNull()
      expect(result.context.inf).toBeNull()
      expect(result.context.sparse).toEqual([1, null, 3])
      expect('gone' in result.context).toBe(false)
      expect(result.context.when).toBe('1970-01-01T00:00:00.000Z')
      expect(result.context.nested).toEqual({ deep: [null] })
      const many = await adapter.runMany('echo-context', [{ n: NaN }, { n: 1 }])
      expect(many.map((r) => r.context.n)).toEqual([null, 1])
    } finally {
      await adapter.stop()
    }
  })

  test('what JSON cannot write at all is refused with ERR_INVALID_ARG, saying why', async () => {
    const blueprint: WorkflowBlueprint = { id: 'refuse', nodes: [{ id: 'only', uses: 'noop' }], edges: [] }
    const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: [blueprint], registry: { noop: async () => ({}) } } })
    await adapter.start()
    try {
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      const cases: Array<[unknown, RegExp]> = [
        [{ big: BigInt(1) }, /initialContext cannot be written as JSON: .*BigInt/],
        [cyclic, /initialContext cannot be written as JSON: .*circular/i],
        ['text', /initialContext must be an object of context keys, not a string/],
        [[1, 2], /initialContext must be an object of context keys, not an array/],
      ]
      for (const [context, message] of cases) {
        let error: any
        try {
          await adapter.startRun('refuse', context as Record<string, unknown>)
        } catch (e) {
          error = e
        }
        expect(error?.code).toBe('ERR_INVALID_ARG')
        expect(String(error?.message)).toMatch(message)
      }
      let error: any
      try {
        await adapter.runMany('refuse', [{}, 'no' as unknown as Record<string, unknown>])
      } catch (e) {
        error = e
      }
      expect(error?.code).toBe('ERR_INVALID_ARG')
      expect(String(error?.message)).toContain('inputs[1] must be an object')
    } finally {
      await adapter.stop()
    }
  })
})

describe("an 'all' join counts a predecessor that completed, whichever edge it took (T2)", () => {
  test.each(JOIN_SCENARIOS)('%s', async (_name, condition, aDelay, bDelay, ran) => {
    const result = await run(joinBlueprint(`join-${aDelay}-${bDelay}-${condition ? 'none' : 'other'}`, condition), joinRegistry(aDelay, bDelay))
    expect(result.status).toBe('completed')
    expect(whatRan(result.context)).toEqual(ran)
  })
})

describe("errors[] in results, FlowRuntime's WorkflowError shape", () => {
  test('a failed run names the failed node, its error, whether it was fatal and when', async () => {
    const before = Date.now()
    const result = await run(single('broken', 'broken', { maxRetries: 2 }), {
      broken: async () => {
        throw new Error('disk full')
      },
    })
    expect(result.status).toBe('failed')
    expect(result.errors).toHaveLength(1)
    const [error] = result.errors ?? []
    expect(error).toMatchObject({ name: 'FlowcraftError', nodeId: 'node', isFatal: false, message: result.reason })
    expect(error.message).toContain('disk full')
    const at = Date.parse(error.timestamp)
    expect(new Date(at).toISOString()).toBe(error.timestamp)
    expect(at).toBeGreaterThanOrEqual(before - 1)
    expect(at).toBeLessThanOrEqual(Date.now())
  })

  test('an unknown implementation is fatal; a completed run has no errors', async () => {
    const missing = await run(single('missing', 'nothing', {}), {})
    expect(missing.errors).toEqual([expect.objectContaining({ nodeId: 'node', isFatal: true })])
    const fine = await run(single('fine', 'fine', {}), { fine: async () => ({ output: 1 }) })
    expect(fine.status).toBe('completed')
    expect(fine.errors).toBeUndefined()
  })
})
