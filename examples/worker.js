// A worker process: consumes jobs of the order workflow from Kafka until SIGTERM/SIGINT.
// Run several of these; they share the work through the consumer group.
'use strict'
const { KafkaAdapter, RedisCoordinationStore } = require('..')
const { orderFlow, registry } = require('./order-workflow')
const { adapterOptions } = require('./stack-settings')

const name = process.argv[2] || `worker-${process.pid}`
// Flowcraft's ILogger shape: the adapter's diagnostics (a retry, a bad message...) come here
// with a context object instead of going to stderr.
const line = (level) => (message, context) => console.log(`[${name}] ${level}: ${message} (run ${String(context.runId ?? '-').slice(-6)})`)
const logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') }

const adapter = new KafkaAdapter({
  ...adapterOptions(name),
  logger,
  logLevel: 'warn',
  runtimeOptions: { blueprints: { [orderFlow.id]: orderFlow }, registry },
  coordinationStore: new RedisCoordinationStore({ url: process.env.FLOWCRAFT_REDIS_URL || 'redis://127.0.0.1:6379' }),
})

adapter.on('node:finish', (e) => console.log(`[${name}] ${e.nodeId} done (attempt ${e.attempt}) in run ${e.runId.slice(-6)}`))

// SIGTERM (e.g. from Kubernetes or systemd): stop fetching, let running nodes finish,
// commit, leave the group; the process then exits by itself.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    adapter.stop().then(
      () => console.log(`[${name}] stopped`),
      (error) => {
        console.error(`[${name}] stop failed: ${error.message}`)
        process.exitCode = 1
      },
    )
  })
}

// Partitions move between workers as they join and leave the group.
let partitions = ''
function reportPartitions() {
  const now = adapter.assignedPartitions().join(',')
  if (now !== partitions) console.log(`[${name}] partitions: ${now || 'none'}`)
  partitions = now
}

adapter.start().then(
  () => {
    console.log(`[${name}] consuming`)
    setInterval(reportPartitions, 50).unref()
  },
  (error) => {
    console.error(`[${name}] could not start: [${error.code}] ${error.message}`)
    process.exit(1)
  },
)
