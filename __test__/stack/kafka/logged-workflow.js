// `logged`: `fetch` -> `save`; `save` fails its first attempt when the run's context has
// `flaky: true` (maxRetries 2), so a run can show a retry.
'use strict'

const logged = {
  id: 'logged',
  nodes: [
    { id: 'fetch', uses: 'step' },
    { id: 'save', uses: 'save', config: { maxRetries: 2 } },
  ],
  edges: [{ source: 'fetch', target: 'save' }],
}

const registry = {
  async step(ctx) {
    return { output: ctx.dependencies.nodeId }
  },
  async save(ctx) {
    if ((await ctx.context.get('flaky')) === true && ctx.dependencies.attempt === 1) {
      throw new Error('the store hiccupped')
    }
    return { output: 'saved' }
  },
}

module.exports = { blueprints: { logged }, registry }
