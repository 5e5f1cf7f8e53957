// Human in the loop: `submit` -> `review` (wait) -> `approved` on action 'approve', `rejected` on 'reject'.
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

const registry = {
  async step(ctx) {
    return { output: ctx.dependencies.nodeId }
  },
}

module.exports = { review, registry, blueprints: { [review.id]: review } }
