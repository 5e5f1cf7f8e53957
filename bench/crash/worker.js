// A crash-test worker process: prints `EXEC <runId> <nodeId>` before each node body and
// `FINISH <runId> <nodeId>` for each recorded output (node:finish); runs a reconciler.
'use strict'
const { KafkaAdapter, RedisCoordinationStore, createKafkaReconciler } = require('../..')
const workflow = require('./workflow')

const settings = JSON.parse(process.env.CRASH_TEST_WORKER)
const registry = {}
for (const [name, implementation] of Object.entries(workflow.registry)) {
  registry[name] = (ctx) => {
    process.stdout.write(`EXEC ${ctx.dependencies.runId} ${ctx.dependencies.nodeId}\n`)
    return implementation(ctx)
  }
}
const adapter = new KafkaAdapter({
  ...settings.adapter,
  runtimeOptions: { blueprints: workflow.blueprints, registry },
  coordinationStore: new RedisCoordinationStore({ url: settings.redisUrl }),
})
adapter.on('node:finish', (event) => process.stdout.write(`FINISH ${event.runId} ${event.nodeId}\n`))
const reconciler = createKafkaReconciler({ adapter, stalledThresholdSeconds: settings.stalledThresholdSeconds })

adapter
  .start()
  .then(() => reconciler.start({ intervalMs: 1000 }))
  .then(() => process.stdout.write('READY\n'))
  .catch((error) => {
    process.stderr.write(`worker failed: [${error.code}] ${error.message}\n`)
    process.exit(1)
  })

// CRASH_TEST_DEBUG=1: every 2 s, the partitions this worker owns (on stderr).
if (process.env.CRASH_TEST_DEBUG === '1') {
  setInterval(() => {
    let owned
    try {
      owned = JSON.stringify(adapter.assignedPartitions())
    } catch (error) {
      owned = `error ${error.code}: ${error.message}`
    }
    process.stderr.write(`debug: assigned ${owned}\n`)
  }, 2000).unref()
}

process.on('SIGTERM', () => {
  reconciler.stop()
  adapter.stop().then(() => process.exit(0))
})
