// Flowcraft middleware (runtimeOptions.middleware) on InMemoryAdapter (issue: drop-in). Each
// expected log is what FlowRuntime.run (flowcraft 2.10.1) records for the same blueprint,
// registry and middleware.
import { InMemoryAdapter } from '../../index'
import type { Middleware, RunResult, WorkflowBlueprint } from '../../index'
import { failure } from '../support/caught'

type Registry = Record<string, (ctx: { input?: unknown }) => Promise<{ output?: unknown } | void>>

async function run(blueprint: WorkflowBlueprint, registry: Registry, middleware: Middleware[]): Promise<RunResult> {
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: [blueprint], registry, middleware }, logLevel: 'silent' })
  await adapter.start()
  try {
    return await adapter.run(blueprint.id)
  } finally {
    await adapter.stop()
  }
}

const single = (id: string): WorkflowBlueprint => ({ id, nodes: [{ id: 'a', uses: 'a' }], edges: [] })

test('hooks run in FlowRuntime order: the around chain outermost first, before hooks, the node, after hooks', async () => {
  const log: string[] = []
  const blueprint: WorkflowBlueprint = {
    id: 'order',
    nodes: [
      { id: 'a', uses: 'a' },
      { id: 'b', uses: 'b' },
    ],
    edges: [{ source: 'a', target: 'b' }],
  }
  const registry: Registry = {
    a: async () => {
      log.push('a:run')
      return { output: 'A' }
    },
    b: async (ctx) => {
      log.push(`b:run:${String(ctx.input)}`)
      return { output: 'B' }
    },
  }
  const first: Middleware = {
    beforeNode: async (ctx, id) => {
      log.push(`m1.before:${id}`)
      await ctx.set(`seen.${id}`, true)
    },
    afterNode: async (_ctx, id, result, error) => {
      log.push(`m1.after:${id}:${JSON.stringify(result)}:${error ? error.message : '-'}`)
    },
    aroundNode: async (_ctx, id, next) => {
      log.push(`m1.around>${id}`)
      const result = await next()
      log.push(`m1.around<${id}:${JSON.stringify(result)}`)
      return result
    },
  }
  const second: Middleware = {
    beforeNode: async (_ctx, id) => {
      log.push(`m2.before:${id}`)
    },
    aroundNode: async (_ctx, id, next) => {
      log.push(`m2.around>${id}`)
      const result = await next()
      log.push(`m2.around<${id}`)
      return result
    },
  }
  const result = await run(blueprint, registry, [first, second])
  expect(result.status).toBe('completed')
  expect(log).toEqual([
    'm1.around>a', 'm2.around>a', 'm1.before:a', 'm2.before:a', 'a:run', 'm1.after:a:{"output":"A"}:-', 'm2.around<a', 'm1.around<a:{"output":"A"}',
    'm1.around>b', 'm2.around>b', 'm1.before:b', 'm2.before:b', 'b:run:A', 'm1.after:b:{"output":"B"}:-', 'm2.around<b', 'm1.around<b:{"output":"B"}',
  ])
  expect(result.context).toMatchObject({ 'seen.a': true, 'seen.b': true, '_outputs.b': 'B' })
})

test('an aroundNode that returns without calling next() stands in for the node', async () => {
  const ran: string[] = []
  const registry: Registry = {
    a: async () => {
      ran.push('a')
      return { output: 'real' }
    },
  }
  const result = await run(single('cached'), registry, [{ aroundNode: async () => ({ output: 'cached' }) }])
  expect(result.status).toBe('completed')
  expect(ran).toEqual([])
  expect(result.context['_outputs.a']).toBe('cached')
})

test("afterNode sees the node's error, next() throws FlowRuntime's wrapped error, and a caught failure still fails the node", async () => {
  const log: string[] = []
  const registry: Registry = {
    a: async () => {
      throw new Error('boom')
    },
  }
  const middleware: Middleware[] = [
    {
      aroundNode: async (_ctx, _id, next) => {
        try {
          return await next()
        } catch (error) {
          log.push(`caught:${(error as Error).message}:${((error as Error).cause as Error).message}`)
          return { output: 'swallowed' }
        }
      },
    },
    {
      afterNode: async (_ctx, _id, result, error) => {
        log.push(`after:${JSON.stringify(result)}:${error?.message}`)
      },
    },
  ]
  const result = await run(single('fails'), registry, middleware)
  expect(log).toEqual(['after:undefined:boom', "caught:Node 'a' execution failed:boom"])
  expect(result.status).toBe('failed')
  expect(result.reason).toContain('boom')
  expect(result.context['_outputs.a']).toBeUndefined()
})

test('an aroundNode that neither calls next() nor returns a result fails the node, saying so', async () => {
  const result = await run(single('nothing'), { a: async () => ({ output: 1 }) }, [{ aroundNode: async () => undefined as never }])
  expect(result.status).toBe('failed')
  expect(result.reason).toContain("middleware aroundNode of node 'a' did not call next() and did not return a result")
})

test('a throwing beforeNode fails the attempt before the node runs', async () => {
  const ran: string[] = []
  const registry: Registry = {
    a: async () => {
      ran.push('a')
    },
  }
  const result = await run(single('refused'), registry, [
    {
      beforeNode: async () => {
        throw new Error('not allowed')
      },
    },
  ])
  expect(result.status).toBe('failed')
  expect(result.reason).toContain('not allowed')
  expect(ran).toEqual([])
})

test('with retries, the hooks run around each attempt (each attempt is its own job)', async () => {
  const log: string[] = []
  let calls = 0
  const blueprint: WorkflowBlueprint = { id: 'retried', nodes: [{ id: 'a', uses: 'a', config: { maxRetries: 2 } }], edges: [] }
  const registry: Registry = {
    a: async () => {
      calls += 1
      if (calls === 1) throw new Error('first attempt')
      return { output: 'second' }
    },
  }
  const result = await run(blueprint, registry, [
    { beforeNode: async (_ctx, id) => void log.push(`before:${id}`), afterNode: async (_ctx, id, _r, error) => void log.push(`after:${id}:${error?.message ?? 'ok'}`) },
  ])
  expect(result.status).toBe('completed')
  expect(log).toEqual(['before:a', 'after:a:first attempt', 'before:a', 'after:a:ok'])
})

test('middleware that is not a list of hook objects is refused, naming the entry', async () => {
  const options = (middleware: unknown) => () =>
    new InMemoryAdapter({ runtimeOptions: { blueprints: [single('x')], registry: { a: async () => undefined }, middleware: middleware as Middleware[] } })
  await expect(failure(options({ aroundNode: () => undefined }))).resolves.toMatchObject({
    code: 'ERR_INVALID_OPTIONS',
    message: expect.stringContaining('runtimeOptions.middleware must be an array'),
  })
  await expect(failure(options([{}, { aroundNode: 3 }, 'x']))).resolves.toMatchObject({
    code: 'ERR_INVALID_OPTIONS',
    message: expect.stringMatching(/middleware\[1\]\.aroundNode must be a function, not a number[\s\S]*middleware\[2\] must be an object/),
  })
})

test("an aroundNode that rethrows what next() threw leaves the node's own failure standing", async () => {
  const seen: string[] = []
  const registry: Registry = {
    a: async () => {
      throw new Error('disk full')
    },
  }
  const result = await run(single('rethrown'), registry, [
    {
      aroundNode: async (_ctx, _id, next) => {
        try {
          return await next()
        } catch (error) {
          seen.push((error as Error).message)
          throw error
        }
      },
    },
  ])
  expect(seen).toEqual(["Node 'a' execution failed"])
  expect(result.status).toBe('failed')
  expect(result.reason).toContain('disk full')
})
