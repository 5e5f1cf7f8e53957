// Runs one conformance case through an adapter, exactly as conformance/README.md
// ("Running a case in a conforming engine") describes.
import { randomUUID } from 'node:crypto'

import type { FlowcraftEvent, InMemoryAdapter, NodeFunction, StartRunOptions } from '../../../index'

/** What the runner needs of an adapter: InMemoryAdapter and KafkaAdapter both fit. */
export type WorkflowAdapter = Pick<InMemoryAdapter, 'startRun' | 'waitForRun' | 'resumeWithAction' | 'publishedResults' | 'on'>
import { compare, type Observed } from './compare'
import { BUILT_INS, type ConformanceCase } from './load-cases'

const WAIT_MS = 20000
const QUIET_MS = 100

/** `<uses>_<batchId>_<index>` → `<uses>_*_<index>`. */
export function executionName(nodeId: string, knownIds: Set<string>): string {
  if (knownIds.has(nodeId)) return nodeId
  const match = /^(.*)_([0-9a-f-]{36})_(\d+)$/.exec(nodeId)
  return match ? `${match[1]}_*_${match[3]}` : nodeId
}

/** Counts calls per run (the root run id) and node. */
export class ExecutionCounter {
  private readonly counts = new Map<string, Map<string, number>>()
  lastActivity = Date.now()

  count(runId: string, nodeId: string): void {
    const root = runId.split('/')[0]
    const perRun = this.counts.get(root) ?? new Map<string, number>()
    perRun.set(nodeId, (perRun.get(nodeId) ?? 0) + 1)
    this.counts.set(root, perRun)
    this.lastActivity = Date.now()
  }

  of(runId: string): Map<string, number> {
    return this.counts.get(runId) ?? new Map()
  }
}

type Registry = Record<string, NodeFunction>

export function countingRegistry(registry: Registry, counter: ExecutionCounter): Registry {
  const wrapped: Registry = {}
  for (const [name, implementation] of Object.entries(registry)) {
    wrapped[name] = (ctx) => {
      counter.count(ctx.dependencies.runId, ctx.dependencies.nodeId)
      return implementation(ctx)
    }
  }
  return wrapped
}

export function caseBlueprints(testCase: ConformanceCase) {
  return { [testCase.blueprint.id]: testCase.blueprint, ...(testCase.subBlueprints ?? {}) }
}

function builtInNodeIds(testCase: ConformanceCase, registry: Registry): Set<string> {
  const ids = new Set<string>()
  for (const blueprint of Object.values(caseBlueprints(testCase))) {
    for (const node of blueprint.nodes) if (BUILT_INS.has(node.uses) && !(node.uses in registry)) ids.add(node.id)
  }
  return ids
}

/** Built-ins run natively, so they are counted from `node:start` (one per attempt). */
export function countBuiltIns(adapter: WorkflowAdapter, testCase: ConformanceCase, registry: Registry, counter: ExecutionCounter) {
  const builtIns = builtInNodeIds(testCase, registry)
  adapter.on('node:start', (event: FlowcraftEvent) => {
    counter.lastActivity = Date.now()
    if (event.nodeId !== undefined && builtIns.has(event.nodeId)) counter.count(event.runId, event.nodeId)
  })
  adapter.on('node:finish', () => {
    counter.lastActivity = Date.now()
  })
}

async function untilQuiet(counter: ExecutionCounter): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (Date.now() < deadline && Date.now() - counter.lastActivity < QUIET_MS) {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS / 4))
  }
}

export async function runCaseOnce(adapter: WorkflowAdapter, testCase: ConformanceCase, counter: ExecutionCounter): Promise<string[]> {
  const runId = randomUUID()
  const options: StartRunOptions = { runId }
  if (testCase.clientOmitsVersion) options.omitBlueprintVersion = true
  else if (typeof testCase.clientBlueprintVersion === 'string') options.blueprintVersion = testCase.clientBlueprintVersion
  const started = Date.now()
  await adapter.startRun(testCase.blueprint.id, testCase.initialContext ?? {}, options)
  const first = await adapter.waitForRun(runId, { timeoutMs: WAIT_MS })
  let result = first
  let resumeApplied = false
  await untilQuiet(counter)
  if (testCase.resume && first.status === 'awaiting') {
    await adapter.resumeWithAction(runId, testCase.resume.action, testCase.resume.output)
    resumeApplied = true
    // The status stays `awaiting` until the resumed work settles: wait for a final result.
    const deadline = Date.now() + WAIT_MS
    do {
      await new Promise((resolve) => setTimeout(resolve, 5))
      result = await adapter.waitForRun(runId, { timeoutMs: WAIT_MS })
    } while (result.status === 'awaiting' && Date.now() < deadline)
    await untilQuiet(counter)
  }
  const published = await adapter.publishedResults(runId)
  const final = published[published.length - 1]
  const nodeIds = new Set(Object.values(caseBlueprints(testCase)).flatMap((b) => b.nodes.map((n) => n.id)))
  const executions = new Map<string, number>()
  for (const [nodeId, count] of counter.of(runId)) {
    const name = executionName(nodeId, nodeIds)
    executions.set(name, (executions.get(name) ?? 0) + count)
  }
  const observed: Observed = {
    status: result.status,
    statusBeforeResume: testCase.resume ? first.status : undefined,
    reason: result.reason,
    published,
    resumeApplied,
    // The addon's objects belong to Node's main realm, jest runs in a sandbox realm.
    context: JSON.parse(JSON.stringify(result.context)),
    executions,
    durationMs: final ? final.publishedAt - started : 0,
    nodeIds,
  }
  return compare(testCase, observed)
}
