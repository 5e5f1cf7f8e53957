// Human in the loop: `submit` -> `review` (wait) -> `approved` on action 'approve', `rejected` on 'reject'.
// Also `held`: one node that takes `holdMs` (from the initial context) to finish.
'use strict'

const review = {
  id: 'review',
  nodes: [
    { id: 'submit', uses: 'step' },
    { id: 'review', uses: 'wait' },
    { id: 'approved', uses: 'step' },
    { id: 'rejected', uses: 'step' },
  ],
  edges: [
    { source: 'submit', target: 'review' },
    { source: 'review', target: 'approved', action: 'approve' },
    { source: 'review', target: 'rejected', action: 'reject' },
  ],
}

const held = { id: 'held', nodes: [{ id: 'hold', uses: 'hold' }], edges: [] }

const registry = {
  async step(ctx) {
    return { output: ctx.dependencies.nodeId }
  },
  async hold(ctx) {
    const ms = await ctx.context.get('holdMs')
    await new Promise((resolve) => setTimeout(resolve, ms))
    return { output: ms }
  },
}

module.exports = { review, held, registry, blueprints: { [review.id]: review, [held.id]: held } }
