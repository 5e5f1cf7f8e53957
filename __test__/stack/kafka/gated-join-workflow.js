// `split` -> `gate` (wait) and `slow` (takes `slowMs` from the initial context) -> an 'all'
// join that reports what it sees of both branches. Resumed while `slow` still runs, the
// join is released by the worker's own arrival: it must still see the resume's output.
'use strict'

const gated = {
  id: 'gated-join',
  nodes: [
    { id: 'split', uses: 'step' },
    { id: 'gate', uses: 'wait' },
    { id: 'slow', uses: 'slow' },
    { id: 'join', uses: 'report', config: { joinStrategy: 'all' } },
  ],
  edges: [
    { source: 'split', target: 'gate' },
    { source: 'split', target: 'slow' },
    { source: 'gate', target: 'join', action: 'ok' },
    { source: 'slow', target: 'join' },
  ],
}

const registry = {
  async step() {
    return { output: 'go' }
  },
  async slow(ctx) {
    const ms = await ctx.context.get('slowMs')
    await new Promise((resolve) => setTimeout(resolve, ms))
    return { output: 'late' }
  },
  async report(ctx) {
    return { output: { gate: (await ctx.context.get('_outputs.gate')) ?? null, slow: (await ctx.context.get('_outputs.slow')) ?? null } }
  },
}

module.exports = { registry, blueprints: { [gated.id]: gated } }
