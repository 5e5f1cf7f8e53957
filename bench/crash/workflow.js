// The crash test's workflow: 10 nodes with a fan-out of 4 into an 'all' join, a
// condition, and a chain. Every node writes its own context key.
'use strict'

const dag = {
  id: 'crash-dag',
  nodes: [
    { id: 'start', uses: 'work' },
    ...[1, 2, 3, 4].map((i) => ({ id: `branch${i}`, uses: 'work' })),
    { id: 'join', uses: 'total', config: { joinStrategy: 'all' } },
    { id: 'approve', uses: 'work' },
    { id: 'reject', uses: 'work' },
    { id: 'ship', uses: 'work' },
    { id: 'done', uses: 'work' },
  ],
  edges: [
    ...[1, 2, 3, 4].map((i) => ({ source: 'start', target: `branch${i}` })),
    ...[1, 2, 3, 4].map((i) => ({ source: `branch${i}`, target: 'join' })),
    { source: 'join', target: 'approve', condition: 'result.output.ok' },
    { source: 'join', target: 'reject', condition: 'result.output.rejected' },
    { source: 'approve', target: 'ship' },
    { source: 'ship', target: 'done' },
  ],
}

/** Nodes a completed run has run: every one but `reject`. */
const EXPECTED_NODES = dag.nodes.map((n) => n.id).filter((id) => id !== 'reject')

const registry = {
  async work(ctx) {
    await ctx.context.set(`key.${ctx.dependencies.nodeId}`, ctx.dependencies.nodeId)
    return { output: ctx.dependencies.nodeId }
  },
  async total(ctx) {
    await ctx.context.set('key.join', 'join')
    return { output: { ok: true, rejected: false } }
  },
}

module.exports = { dag, registry, blueprints: { [dag.id]: dag }, EXPECTED_NODES }
