// Where a start-less cyclic graph begins, strict runs, cancel and FlowRuntime's resume on
// InMemoryAdapter (issue: drop-in). The cycle expectations are what FlowRuntime.run
// (flowcraft 2.10.1) executes for the same blueprints.
import { InMemoryAdapter } from '../../index'
import type { RunResult, WorkflowBlueprint } from '../../index'
import { failure } from '../support/caught'

type Registry = Record<string, (ctx: { nodeId?: string }) => Promise<{ output?: unknown; action?: string } | void>>

function recording(ran: string[], ids: string[]): Registry {
  return Object.fromEntries(
    ids.map((id) => [
      id,
      async () => {
        ran.push(id)
        return { output: id }
      },
    ]),
  )
}

async function withAdapter<T>(blueprints: WorkflowBlueprint[], registry: Registry, body: (adapter: InMemoryAdapter) => Promise<T>, strict?: boolean): Promise<T> {
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints, registry, ...(strict === undefined ? {} : { strict }) }, logLevel: 'silent' })
  await adapter.start()
  try {
    return await body(adapter)
  } finally {
    await adapter.stop()
  }
}

const node = (id: string) => ({ id, uses: id })
const edge = (source: string, target: string, extra: Record<string, string> = {}) => ({ source, target, ...extra })

const twoNodeCycle: WorkflowBlueprint = { id: 'two', nodes: [node('a'), node('b')], edges: [edge('a', 'b'), edge('b', 'a')] }

describe('a graph with no start node begins where FlowRuntime begins it', () => {
  test.each([
    ['two nodes: the search enters at the first node; the edge back does not run it again', twoNodeCycle, ['a', 'b']],
    [
      'metadata.cycleEntryPoints names the entry',
      { ...twoNodeCycle, id: 'named', metadata: { cycleEntryPoints: ['b'] } },
      ['b', 'a'],
    ],
  ])('%s', async (_name, blueprint, expected) => {
    const ran: string[] = []
    const result = await withAdapter([blueprint], recording(ran, ['a', 'b']), (adapter) => adapter.run(blueprint.id))
    expect(result.status).toBe('completed')
    expect(ran).toEqual(expected)
    expect(result.context[`_outputs.${expected[1]}`]).toBe(expected[1])
  })

  test('two cycles sharing nodes: one entry each, every node runs once', async () => {
    const blueprint: WorkflowBlueprint = {
      id: 'three',
      nodes: [node('a'), node('b'), node('c')],
      edges: [edge('a', 'b'), edge('b', 'c'), edge('c', 'b'), edge('c', 'a')],
    }
    const ran: string[] = []
    const result = await withAdapter([blueprint], recording(ran, ['a', 'b', 'c']), (adapter) => adapter.run('three'))
    expect(result.status).toBe('completed')
    // FlowRuntime runs a and b together (its first wave), then c.
    expect([...ran.slice(0, 2)].sort()).toEqual(['a', 'b'])
    expect(ran.slice(2)).toEqual(['c'])
  })
})

describe('strict', () => {
  test('a strict run refuses a blueprint with a cycle, naming it; other runs of it go on', async () => {
    const ran: string[] = []
    await withAdapter([twoNodeCycle], recording(ran, ['a', 'b']), async (adapter) => {
      const error = await failure(() => adapter.startRun('two', {}, { strict: true }))
      expect(error).toMatchObject({ code: 'ERR_INVALID_BLUEPRINT' })
      expect(error.message).toContain("blueprint 'two'")
      expect(error.message).toContain('a -> b -> a')
      expect(ran).toEqual([])
      expect((await adapter.run('two')).status).toBe('completed')
    })
  })

  test('runtimeOptions.strict refuses cyclic blueprints at construction, and takes a DAG', () => {
    const dag: WorkflowBlueprint = { id: 'dag', nodes: [node('a'), node('b')], edges: [edge('a', 'b')] }
    const registry = recording([], ['a', 'b'])
    const build = (blueprints: WorkflowBlueprint[], strict: unknown) =>
      new InMemoryAdapter({ runtimeOptions: { blueprints, registry, strict } as never, logLevel: 'silent' })
    expect(() => build([dag, twoNodeCycle], true)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_BLUEPRINT', message: expect.stringContaining("blueprint 'two'") }))
    expect(() => build([dag], true)).not.toThrow()
    expect(() => build([dag], 'yes')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS', message: expect.stringContaining('runtimeOptions.strict') }))
  })
})

const paused: WorkflowBlueprint = {
  id: 'paused',
  nodes: [node('first'), { id: 'gate', uses: 'wait' }, node('after'), node('approved')],
  edges: [edge('first', 'gate'), edge('gate', 'after'), edge('gate', 'approved', { action: 'approve' })],
}

describe('cancel', () => {
  test('an awaiting run ends cancelled: its waiter receives it, a resume is refused, nothing runs', async () => {
    const ran: string[] = []
    await withAdapter([paused], recording(ran, ['first', 'after', 'approved']), async (adapter) => {
      const runId = await adapter.startRun('paused')
      expect((await adapter.waitForRun(runId)).status).toBe('awaiting')
      await expect(adapter.cancel(runId, 'no longer wanted')).resolves.toBe('cancelled')
      const result = await adapter.waitForRun(runId)
      expect(result.status).toBe('cancelled')
      expect(result.reason).toContain('no longer wanted')
      await expect(adapter.cancel(runId)).resolves.toBe('already')
      await expect(failure(() => adapter.resumeWithAction(runId, 'approve'))).resolves.toMatchObject({ code: 'ERR_RUN_FINISHED' })
      expect(ran).toEqual(['first'])
      expect((await adapter.publishedResults(runId)).map((r) => r.status)).toEqual(['awaiting', 'cancelled'])
    })
  })

  test('a running run: the node running finishes, nothing follows it; a finished run is not cancelled', async () => {
    const ran: string[] = []
    let release = () => {}
    const started = new Promise<void>((resolve) => {
      release = resolve
    })
    let finish = () => {}
    const slow = new Promise<void>((resolve) => {
      finish = resolve
    })
    const chain: WorkflowBlueprint = { id: 'chain', nodes: [node('slow'), node('next')], edges: [edge('slow', 'next')] }
    const registry: Registry = {
      slow: async () => {
        ran.push('slow')
        release()
        await slow
        return { output: 1 }
      },
      next: async () => {
        ran.push('next')
        return { output: 2 }
      },
    }
    await withAdapter([chain], registry, async (adapter) => {
      const runId = await adapter.startRun('chain')
      await started
      await adapter.cancel(runId)
      finish()
      expect((await adapter.waitForRun(runId)).status).toBe('cancelled')
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(ran).toEqual(['slow'])
      const done = await adapter.run('chain')
      expect(done.status).toBe('completed')
      await expect(failure(() => adapter.cancel(done.runId))).resolves.toMatchObject({ code: 'ERR_RUN_FINISHED', runId: done.runId })
      await expect(failure(() => adapter.cancel('never-started'))).resolves.toMatchObject({ code: 'ERR_UNKNOWN_RUN' })
    })
  })

  test("run's AbortSignal cancels it, before or after it started", async () => {
    const ran: string[] = []
    const slow: WorkflowBlueprint = { id: 'slow', nodes: [node('wait200'), node('next')], edges: [edge('wait200', 'next')] }
    const registry: Registry = {
      wait200: async () => {
        ran.push('wait200')
        await new Promise((resolve) => setTimeout(resolve, 200))
        return { output: 1 }
      },
      next: async () => {
        ran.push('next')
      },
    }
    await withAdapter([slow], registry, async (adapter) => {
      const controller = new AbortController()
      const running = adapter.run('slow', {}, { signal: controller.signal })
      await new Promise((resolve) => setTimeout(resolve, 30))
      controller.abort(new Error('user left'))
      const result: RunResult = await running
      expect(result.status).toBe('cancelled')
      expect(result.reason).toContain('user left')
      const early = await adapter.run('slow', {}, { signal: AbortSignal.abort() })
      expect(early.status).toBe('cancelled')
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(ran).not.toContain('next')
      await expect(failure(() => adapter.run('slow', {}, { signal: 'stop' as never }))).resolves.toMatchObject({ code: 'ERR_INVALID_ARG' })
    })
  })
})

describe("FlowRuntime's resume", () => {
  const twoGates: WorkflowBlueprint = {
    id: 'gates',
    nodes: [node('first'), { id: 'left', uses: 'wait' }, { id: 'right', uses: 'wait' }, node('afterLeft'), node('afterRight'), node('approved')],
    edges: [
      edge('first', 'left'),
      edge('first', 'right'),
      edge('left', 'afterLeft'),
      edge('left', 'approved', { action: 'approve' }),
      edge('right', 'afterRight'),
    ],
  }

  test('a named node resumes alone, the others keep waiting; without an action only action-less edges', async () => {
    const ran: string[] = []
    await withAdapter([twoGates], recording(ran, ['first', 'afterLeft', 'afterRight', 'approved']), async (adapter) => {
      const runId = await adapter.startRun('gates')
      expect((await adapter.waitForRun(runId)).status).toBe('awaiting')
      await adapter.resume(runId, { output: 'ok' }, 'right')
      const halfway = await adapter.waitForRun(runId)
      expect(halfway.status).toBe('awaiting')
      expect(halfway.context._awaitingNodeIds).toEqual(['left'])
      expect(halfway.context['_outputs.right']).toBe('ok')
      expect(ran).toEqual(['first', 'afterRight'])
      await expect(failure(() => adapter.resume(runId, {}, 'right'))).resolves.toMatchObject({
        code: 'ERR_RUN_NOT_AWAITING',
        message: expect.stringContaining("node 'right'"),
      })
      await adapter.resume(runId, { action: 'approve' })
      const done = await adapter.waitForRun(runId)
      expect(done.status).toBe('completed')
      expect(ran.slice(2).sort()).toEqual(['afterLeft', 'approved'])
      expect(done.context._awaitingNodeIds).toBeUndefined()
    })
  })

  test('without a node id the first waiting node resumes; a bad action is refused', async () => {
    const ran: string[] = []
    await withAdapter([twoGates], recording(ran, ['first', 'afterLeft', 'afterRight', 'approved']), async (adapter) => {
      const runId = await adapter.startRun('gates')
      await adapter.waitForRun(runId)
      await expect(failure(() => adapter.resume(runId, { action: 3 as never }))).resolves.toMatchObject({ code: 'ERR_INVALID_ARG' })
      const waiting = (await adapter.waitForRun(runId)).context._awaitingNodeIds as string[]
      expect([...waiting].sort()).toEqual(['left', 'right'])
      await adapter.resume(runId)
      const halfway = await adapter.waitForRun(runId)
      expect(halfway.context._awaitingNodeIds).toEqual([waiting[1]])
      expect(ran).toEqual(['first', waiting[0] === 'left' ? 'afterLeft' : 'afterRight'])
    })
  })
})
