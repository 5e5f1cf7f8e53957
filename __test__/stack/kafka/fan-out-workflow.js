// A 40-branch fan-out into an 'all' join; every branch writes its own context key.
'use strict'

const BRANCHES = 40

const fanOut = {
  id: 'fan-out-40',
  nodes: [
    { id: 'start', uses: 'begin' },
    ...Array.from({ length: BRANCHES }, (_, i) => ({ id: `branch_${i}`, uses: 'branch', params: { index: i } })),
    { id: 'join', uses: 'join', config: { joinStrategy: 'all' } },
  ],
  edges: [
    ...Array.from({ length: BRANCHES }, (_, i) => ({ source: 'start', target: `branch_${i}` })),
    ...Array.from({ length: BRANCHES }, (_, i) => ({ source: `branch_${i}`, target: 'join' })),
  ],
}

const registry = {
  async begin() {
    return { output: 'go' }
  },
  async branch(ctx) {
    await ctx.context.set(`branch.${ctx.params.index}`, ctx.params.index)
    return { output: ctx.params.index }
  },
  async join(ctx) {
    const all = await ctx.context.toJSON()
    const keys = Object.keys(all).filter((k) => k.startsWith('branch.'))
    return { output: { keys: keys.length } }
  },
}

module.exports = { BRANCHES, fanOut, registry, blueprints: { [fanOut.id]: fanOut } }
