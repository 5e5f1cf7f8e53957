// A worker of the reference adapter, set up as its README shows: kafkajs, cassandra-driver,
// ioredis, a FlowRuntime's options, `adapter.start()`. Settings come as JSON in
// BENCH_SETTINGS. Prints READY, then `ASSIGNED <partitions>` after each group join.
import { createRequire } from 'node:module'
import { KafkaAdapter, RedisCoordinationStore } from '@flowcraft/kafka-adapter'
import cassandra from 'cassandra-driver'
import { FlowRuntime } from 'flowcraft'
import Redis from 'ioredis'
import { Kafka, logLevel } from 'kafkajs'

const require = createRequire(import.meta.url)
const { blueprints, registry } = require('../lib/workloads.js')

const settings = JSON.parse(process.env.BENCH_SETTINGS)

// The adapter logs every job at info level through console.log; a real deployment
// would not ship that to a pipe, so info/debug are dropped (warnings and errors stay).
const logger = {
  debug() {},
  info() {},
  warn: (...args) => console.error('[warn]', ...args),
  error: (...args) => console.error('[error]', ...args),
}

const kafka = new Kafka({ clientId: settings.clientId, brokers: settings.brokers, logLevel: logLevel.WARN })
const cassandraClient = new cassandra.Client({
  contactPoints: settings.contactPoints,
  localDataCenter: settings.localDataCenter,
})
const redisClient = new Redis(settings.redisUrl)
const runtime = new FlowRuntime({ blueprints, registry, logger })

const adapter = new KafkaAdapter({
  runtimeOptions: runtime.options,
  coordinationStore: new RedisCoordinationStore(redisClient),
  kafka,
  cassandraClient,
  keyspace: settings.keyspace,
  contextTableName: settings.contextTableName,
  statusTableName: settings.statusTableName,
  topicName: settings.topicName,
  groupId: settings.groupId,
})

adapter.consumer.on(adapter.consumer.events.GROUP_JOIN, ({ payload }) => {
  const partitions = [...(payload.memberAssignment[settings.topicName] || [])].sort((a, b) => a - b)
  process.stdout.write(`ASSIGNED ${partitions.join(',')}\n`)
})

async function stop() {
  try {
    await adapter.stop()
  } finally {
    await cassandraClient.shutdown().catch(() => {})
    redisClient.disconnect()
    process.exit(0)
  }
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)

await cassandraClient.connect()
adapter.start()
process.stdout.write('READY\n')
