// The order workflow on Kafka, Cassandra and Redis in one process: a worker that also starts
// a run and awaits it. `bash stack/stack.sh up`, then `node examples/stack.js`. For workers
// in processes of their own, see worker.js and demo.js.
'use strict'
const { orderFlow, registry } = require('./order-workflow')

async function main() {
  const blueprints = { [orderFlow.id]: orderFlow }
  const order = { items: 40, unitPrice: 50 }
  // readme:start
  const { KafkaAdapter, RedisCoordinationStore } = require('flowcraft-kafka-native')

  const adapter = new KafkaAdapter({
    runtimeOptions: { blueprints, registry },
    coordinationStore: new RedisCoordinationStore({ url: 'redis://127.0.0.1:6379' }),
    kafka: { brokers: ['127.0.0.1:9092'], clientId: 'worker-1' },
    cassandra: { contactPoints: ['127.0.0.1:9042'], localDataCenter: 'datacenter1' },
    keyspace: 'flowcraft', ensureSchema: true,
    logLevel: 'error', // the charge node's deliberate first failure is a warning
  })
  await adapter.start() // connects, then consumes jobs
  const result = await adapter.run('order-flow', { order }) // from any process of the group
  // readme:end
  console.log(`${result.status}: charged ${JSON.stringify(result.context['_outputs.charge'])}`)
  await adapter.stop()
}

main().catch((error) => {
  console.error(`stack example failed: [${error.code}] ${error.message}`)
  process.exitCode = 1
})
