// The order workflow in one process, in memory: no Kafka, Cassandra or Redis. What a test
// or an offline run uses. `node examples/in-memory.js`
'use strict'
const { orderFlow, registry } = require('./order-workflow')

async function main() {
  // readme:start
  const { InMemoryAdapter } = require('flowcraft-kafka-native')

  const adapter = new InMemoryAdapter({
    runtimeOptions: { blueprints: { [orderFlow.id]: orderFlow }, registry, dependencies: { currency: 'EUR' } },
    concurrency: 64, // jobs at once; 1 = one at a time, oldest first
    logLevel: 'silent', // the charge node's deliberate first failure would be logged as a warning
  })
  adapter.on('node:retry', (e) => console.log(`retrying ${e.nodeId} after attempt ${e.attempt}`))
  await adapter.start()
  const runId = await adapter.startRun('order-flow', { order: { items: 3, unitPrice: 20 } }) // cast
  const result = await adapter.waitForRun(runId, { timeoutMs: 30000 }) // { runId, status, context, reason? }
  const again = await adapter.run('order-flow', { order: { items: 40, unitPrice: 50 } }) // ask
  await adapter.stop()
  // readme:end
  for (const { status, context } of [result, again]) {
    console.log(`${status}: charged ${JSON.stringify(context['_outputs.charge'])}, review ${JSON.stringify(context['_outputs.review'] ?? 'not needed')}`)
  }
}

main().catch((error) => {
  console.error(`in-memory example failed: [${error.code}] ${error.message}`)
  process.exitCode = 1
})
