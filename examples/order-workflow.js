// The demo workflow: an order fans out to three checks, an 'all' join collects them, a
// condition routes large orders to review, and a flaky payment call is retried.
'use strict'

const orderFlow = {
  id: 'order-flow',
  metadata: { version: '1.0.0' },
  nodes: [
    { id: 'receive', uses: 'receiveOrder' },
    { id: 'stock', uses: 'checkStock' },
    { id: 'fraud', uses: 'checkFraud' },
    { id: 'price', uses: 'priceOrder' },
    { id: 'join', uses: 'collectChecks', config: { joinStrategy: 'all' } },
    { id: 'review', uses: 'manualReview' },
    { id: 'charge', uses: 'chargeCard', config: { maxRetries: 3, retryDelay: 200 } },
  ],
  edges: [
    { source: 'receive', target: 'stock' },
    { source: 'receive', target: 'fraud' },
    { source: 'receive', target: 'price' },
    { source: 'stock', target: 'join' },
    { source: 'fraud', target: 'join' },
    { source: 'price', target: 'join' },
    { source: 'join', target: 'review', condition: 'result.output.large' },
    { source: 'join', target: 'charge' },
  ],
}

const chargeAttempts = new Map()

const registry = {
  async receiveOrder(ctx) {
    const order = await ctx.context.get('order')
    return { output: order }
  },
  async checkStock(ctx) {
    await ctx.context.set('check.stock', 'in stock')
    return { output: { inStock: true, items: ctx.input.items } }
  },
  async checkFraud(ctx) {
    await ctx.context.set('check.fraud', 'low risk')
    return { output: { risk: 0.02 } }
  },
  async priceOrder(ctx) {
    const total = ctx.input.items * ctx.input.unitPrice
    await ctx.context.set('check.price', total)
    return { output: { total } }
  },
  async collectChecks(ctx) {
    const total = await ctx.context.get('check.price')
    return { output: { total, large: total > 1000 } }
  },
  async manualReview() {
    return { output: 'queued for review' }
  },
  // Fails on its first attempt per run, to show a retry.
  async chargeCard(ctx) {
    const key = ctx.dependencies.runId
    const attempt = (chargeAttempts.get(key) || 0) + 1
    chargeAttempts.set(key, attempt)
    if (attempt === 1) throw new Error('payment gateway timeout')
    return { output: { charged: (await ctx.context.get('check.price')) } }
  },
}

module.exports = { orderFlow, registry }
