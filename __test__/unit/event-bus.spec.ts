// runtimeOptions.eventBus (issue: drop-in): FlowRuntime's IEventBus told the adapter's
// events in FlowRuntime's shape. The expected sequence is what FlowRuntime.run (flowcraft
// 2.10.1) emits for the same blueprint and registry, less what this adapter does not
// emit (the workflow:resume FlowRuntime also sends at start), with
// node:start once per attempt (each attempt is its own job) and node:error before
// node:fallback (the failure is known before the fallback is chosen). node:error's error
// is FlowRuntime's wrapper, the node's own error as its cause.
import { InMemoryAdapter } from '../../index'
import type { FlowRuntimeEvent, WorkflowBlueprint } from '../../index'
import { failure } from '../support/caught'

type Registry = Record<string, () => Promise<{ output?: unknown; action?: string }>>

async function withBus(blueprint: WorkflowBlueprint, registry: Registry, body: (adapter: InMemoryAdapter, events: FlowRuntimeEvent[]) => Promise<void>) {
  const events: FlowRuntimeEvent[] = []
  const eventBus = { emit: async (event: FlowRuntimeEvent) => void events.push(event) }
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: [blueprint], registry, eventBus }, logLevel: 'silent' })
  await adapter.start()
  try {
    await body(adapter, events)
  } finally {
    await adapter.stop()
  }
}

/** Events arrive in batches after the fact: until `type` is seen. */
async function until(events: FlowRuntimeEvent[], type: FlowRuntimeEvent['type']) {
  for (let wait = 0; wait < 100 && !events.some((e) => e.type === type); wait++) await new Promise((resolve) => setTimeout(resolve, 10))
}

function shown(events: FlowRuntimeEvent[], runId: string): string[] {
  return events.map((event) => {
    const { executionId, ...rest } = event.payload as { executionId?: string } & Record<string, unknown>
    if (executionId !== undefined) expect(executionId).toBe(runId)
    const payload = { ...rest } as Record<string, unknown>
    if (typeof payload.error === 'object' && payload.error !== null) payload.error = (payload.error as Error).message
    return `${event.type} ${JSON.stringify(payload)}`
  })
}

test("a run's events in FlowRuntime's shape: retries, a fallback, the finish", async () => {
  let calls = 0
  const blueprint: WorkflowBlueprint = {
    id: 'ev',
    nodes: [
      { id: 'a', uses: 'a' },
      { id: 'b', uses: 'b', config: { maxRetries: 2 } },
      { id: 'c', uses: 'bad', config: { fallback: 'spare' } },
      { id: 'spare', uses: 'spare' },
    ],
    edges: [
      { source: 'a', target: 'b' },
      { source: 'b', target: 'c' },
    ],
  }
  const registry: Registry = {
    a: async () => ({ output: 'A' }),
    b: async () => {
      calls++
      if (calls === 1) throw new Error('flaky')
      return { output: 'B', action: 'go' }
    },
    bad: async () => {
      throw new Error('down')
    },
    spare: async () => ({ output: 'S' }),
  }
  await withBus(blueprint, registry, async (adapter, events) => {
    const runId = await adapter.startRun('ev')
    expect((await adapter.waitForRun(runId)).status).toBe('completed')
    await until(events, 'workflow:finish')
    const flow = events.filter((e) => e.type !== 'context:change')
    expect(shown(flow, runId)).toEqual([
      'workflow:start {"blueprintId":"ev"}',
      'node:start {"nodeId":"a","blueprintId":"ev"}',
      'node:finish {"nodeId":"a","result":{"output":"A"},"blueprintId":"ev"}',
      'node:start {"nodeId":"b","input":"A","blueprintId":"ev"}',
      'node:retry {"nodeId":"b","attempt":1,"blueprintId":"ev"}',
      'node:start {"nodeId":"b","input":"A","blueprintId":"ev"}',
      'node:finish {"nodeId":"b","result":{"output":"B","action":"go"},"blueprintId":"ev"}',
      'node:start {"nodeId":"c","input":"B","blueprintId":"ev"}',
      'node:error {"nodeId":"c","error":"Node \'c\' execution failed","blueprintId":"ev"}',
      'node:fallback {"nodeId":"c","fallback":"spare","blueprintId":"ev"}',
      'node:start {"nodeId":"spare","blueprintId":"ev"}',
      'node:finish {"nodeId":"spare","result":{"output":"S"},"blueprintId":"ev"}',
      'workflow:finish {"blueprintId":"ev","status":"completed"}',
    ])
    const failed = events.find((e) => e.type === 'node:error')
    const error = failed?.type === 'node:error' ? failed.payload.error : undefined
    expect(error).toMatchObject({ name: 'FlowcraftError', isFatal: false, nodeId: 'c' })
    expect((error?.cause as Error).message).toBe('down')
  })
})

test('pause, resume, and a failed finish with its errors', async () => {
  const blueprint: WorkflowBlueprint = {
    id: 'gate',
    nodes: [
      { id: 'hold', uses: 'wait' },
      { id: 'after', uses: 'broken' },
    ],
    edges: [{ source: 'hold', target: 'after' }],
  }
  const registry: Registry = {
    broken: async () => {
      throw new Error('no luck')
    },
  }
  await withBus(blueprint, registry, async (adapter, events) => {
    const runId = await adapter.startRun('gate')
    expect((await adapter.waitForRun(runId)).status).toBe('awaiting')
    await until(events, 'workflow:pause')
    await adapter.resume(runId)
    const result = await adapter.waitForRun(runId)
    expect(result.status).toBe('failed')
    await until(events, 'workflow:finish')
    const types = events.filter((e) => e.type !== 'context:change').map((e) => e.type)
    expect(types.slice(0, 3)).toEqual(['workflow:start', 'node:start', 'workflow:pause'])
    expect(types.slice(3)).toEqual(['workflow:resume', 'node:start', 'node:error', 'workflow:finish'])
    const finish = events[events.length - 1]
    expect(finish.payload).toEqual({ blueprintId: 'gate', executionId: runId, status: 'failed', errors: result.errors })
  })
})

test('an eventBus without emit is refused; one whose emit throws is reported, and the run goes on', async () => {
  const options = (eventBus: unknown) => () =>
    new InMemoryAdapter({ runtimeOptions: { blueprints: [], registry: {}, eventBus: eventBus as never } })
  await expect(failure(options({ send: () => undefined }))).resolves.toMatchObject({
    code: 'ERR_INVALID_OPTIONS',
    message: expect.stringContaining('runtimeOptions.eventBus must be an object with an emit(event) method, not an object without one'),
  })
  await expect(failure(options(3))).resolves.toMatchObject({ message: expect.stringContaining('eventBus must be an object with an emit(event) method, not a number') })

  // The throw is reported as a process warning (emitted in the addon's realm, not jest's).
  let emitted = 0
  const blueprint: WorkflowBlueprint = { id: 'one', nodes: [{ id: 'a', uses: 'a' }], edges: [] }
  const eventBus = {
    emit: () => {
      emitted++
      throw new Error('bus down')
    },
  }
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: [blueprint], registry: { a: async () => ({ output: 1 }) }, eventBus }, logLevel: 'silent' })
  const quiet = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
  await adapter.start()
  try {
    expect((await adapter.run('one')).status).toBe('completed')
    // workflow:start, node:start, node:finish, context:change (_outputs.a), workflow:finish.
    for (let wait = 0; wait < 100 && emitted < 5; wait++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(emitted).toBe(5)
  } finally {
    quiet.mockRestore()
    await adapter.stop()
  }
})

test('conditions: edge:evaluate for each, node:skipped for each that did not hold, as FlowRuntime emits them', async () => {
  const blueprint: WorkflowBlueprint = {
    id: 'cond',
    nodes: [
      { id: 'a', uses: 'a' },
      { id: 'b', uses: 'b' },
      { id: 'c', uses: 'c' },
    ],
    edges: [
      { source: 'a', target: 'b', condition: 'result.output.ok' },
      { source: 'a', target: 'c', condition: 'result.output.missing' },
    ],
  }
  const registry: Registry = { a: async () => ({ output: { ok: true } }), b: async () => ({ output: 'B' }), c: async () => ({ output: 'C' }) }
  await withBus(blueprint, registry, async (adapter, events) => {
    const runId = await adapter.startRun('cond')
    expect((await adapter.waitForRun(runId)).status).toBe('completed')
    await until(events, 'workflow:finish')
    const routing = events.filter((e) => e.type === 'edge:evaluate' || e.type === 'node:skipped')
    expect(shown(routing, runId)).toEqual([
      'edge:evaluate {"source":"a","target":"b","condition":"result.output.ok","result":true}',
      'edge:evaluate {"source":"a","target":"c","condition":"result.output.missing","result":false}',
      'node:skipped {"nodeId":"a","edge":{"source":"a","target":"c","condition":"result.output.missing"},"blueprintId":"cond"}',
    ])
  })
})

test("context:change for each write of a node's handling: its own, its output, its successor's input", async () => {
  const blueprint: WorkflowBlueprint = {
    id: 'writes',
    nodes: [
      { id: 'a', uses: 'a' },
      { id: 'b', uses: 'b' },
    ],
    edges: [{ source: 'a', target: 'b' }],
  }
  const registry = {
    a: async (ctx: { context: { set(key: string, value: unknown): Promise<void>; delete(key: string): Promise<boolean> } }) => {
      await ctx.context.set('note', 1)
      await ctx.context.delete('gone')
      return { output: 'A' }
    },
    b: async () => ({ output: 'B' }),
  }
  await withBus(blueprint, registry as unknown as Registry, async (adapter, events) => {
    const runId = await adapter.startRun('writes', { gone: true })
    expect((await adapter.waitForRun(runId)).status).toBe('completed')
    await until(events, 'workflow:finish')
    const changes = events.filter((e) => e.type === 'context:change' && e.payload.sourceNode === 'a')
    expect(shown(changes, runId).sort()).toEqual([
      'context:change {"sourceNode":"a","key":"_inputs.b","op":"set","value":"A"}',
      'context:change {"sourceNode":"a","key":"_outputs.a","op":"set","value":"A"}',
      'context:change {"sourceNode":"a","key":"gone","op":"delete"}',
      'context:change {"sourceNode":"a","key":"note","op":"set","value":1}',
    ])
  })
})

test('a batch: batch:start with its workers, batch:finish with their results, as FlowRuntime emits them', async () => {
  const blueprint: WorkflowBlueprint = {
    id: 'batch',
    nodes: [
      { id: 'list', uses: 'list' },
      { id: 'items_scatter', uses: 'batch-scatter', params: { workerUsesKey: 'double', gatherNodeId: 'items_gather' } },
      { id: 'items_gather', uses: 'batch-gather', params: { gatherNodeId: 'items_gather', outputKey: 'doubled' }, config: { joinStrategy: 'all' } },
    ],
    edges: [
      { source: 'list', target: 'items_scatter' },
      { source: 'items_scatter', target: 'items_gather' },
    ],
  }
  const registry = { list: async () => ({ output: [1, 2, 3] }), double: async (ctx: { input?: unknown }) => ({ output: (ctx.input as number) * 2 }) }
  await withBus(blueprint, registry as unknown as Registry, async (adapter, events) => {
    const runId = await adapter.startRun('batch')
    expect((await adapter.waitForRun(runId)).context.doubled).toEqual([2, 4, 6])
    await until(events, 'workflow:finish')
    const batches = events.filter((e) => e.type === 'batch:start' || e.type === 'batch:finish')
    // Worker ids are `<workerUsesKey>_<batch>_<index>`, the batch a fresh id each run.
    const shownBatches = shown(batches, runId).map((line) => line.replace(/double_[^"]+_(\d)/g, 'double_ID_$1'))
    expect(shownBatches).toEqual([
      'batch:start {"batchId":"items","scatterNodeId":"items_scatter","workerNodeIds":["double_ID_0","double_ID_1","double_ID_2"]}',
      'batch:finish {"batchId":"items","gatherNodeId":"items_gather","results":[2,4,6]}',
    ])
  })
})
