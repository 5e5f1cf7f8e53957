// The quick-start demo: checks the local stack, then runs the order workflow.
// Run with `npm run demo` after `bash stack/stack.sh up`.
'use strict'
const { checkConnectivity, InMemoryAdapter } = require('..')
const { orderFlow, registry } = require('./order-workflow')

async function checkStack() {
  const report = await checkConnectivity({
    kafka: { brokers: [process.env.FLOWCRAFT_KAFKA_BROKERS || '127.0.0.1:9092'] },
    cassandra: { contactPoints: [process.env.FLOWCRAFT_CASSANDRA_CONTACT_POINTS || '127.0.0.1:9042'] },
    redis: { url: process.env.FLOWCRAFT_REDIS_URL || 'redis://127.0.0.1:6379' },
  })
  console.log(`Kafka     ${report.kafka.brokerCount} broker(s), round trip in ${report.kafka.roundTripMs.toFixed(1)} ms`)
  console.log(`Cassandra ${report.cassandra.releaseVersion}, connected in ${report.cassandra.connectMs.toFixed(1)} ms`)
  console.log(`Redis     ${report.redis.ping}, connected in ${report.redis.connectMs.toFixed(1)} ms`)
}

async function runWorkflow() {
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: { [orderFlow.id]: orderFlow }, registry } })
  adapter.on('node:finish', (e) => console.log(`  finished ${e.nodeId} (attempt ${e.attempt})`))
  adapter.on('node:retry', (e) => console.log(`  retrying ${e.nodeId} after attempt ${e.attempt}`))
  await adapter.start()
  for (const order of [{ items: 3, unitPrice: 20 }, { items: 40, unitPrice: 50 }]) {
    console.log(`order of ${order.items} x ${order.unitPrice}:`)
    const result = await adapter.run(orderFlow.id, { order })
    console.log(`  -> ${result.status}: charged ${JSON.stringify(result.context['_outputs.charge'])}` +
      `, review: ${JSON.stringify(result.context['_outputs.review'] ?? 'not needed')}`)
  }
  await adapter.stop()
}

async function main() {
  await checkStack()
  console.log('\norder-flow on InMemoryAdapter (fan-out, all-join, condition, retry):')
  await runWorkflow()
}

main().catch((error) => {
  console.error(`demo failed: [${error.code}] ${error.message}`)
  process.exitCode = 1
})
