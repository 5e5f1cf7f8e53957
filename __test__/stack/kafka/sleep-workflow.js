// A run that sleeps 1.5 s between two nodes: `before` -> `nap` (sleep) -> `after`.
'use strict'

const SLEEP_MS = 1500

const napping = {
  id: 'napping',
  nodes: [
    { id: 'before', uses: 'stamp' },
    { id: 'nap', uses: 'sleep', params: { duration: SLEEP_MS } },
    { id: 'after', uses: 'stamp' },
  ],
  edges: [
    { source: 'before', target: 'nap' },
    { source: 'nap', target: 'after' },
  ],
}

const registry = {
  async stamp(ctx) {
    await ctx.context.set(`${ctx.dependencies.nodeId}At`, Date.now())
    return { output: ctx.dependencies.nodeId }
  },
}

module.exports = { SLEEP_MS, napping, registry, blueprints: { [napping.id]: napping } }
