// A worker process for the multi-process tests: a KafkaAdapter over a workflow module.
// Prints `READY` once consuming, `ASSIGNED <partitions>` when its partitions change,
// `TIMERS <owned> <loading>` when its timer service's partitions change, and
// `EXEC <runId> <nodeId> <attempt>` for each node call, and with `logToStdout` every log
// line as `LOG <json>` (a logger hook instead of stderr); stops cleanly on SIGTERM.
// Options come as JSON in FLOWCRAFT_TEST_WORKER.
'use strict'
const path = require('node:path')
const { KafkaAdapter, RedisCoordinationStore } = require('../../..')

const settings = JSON.parse(process.env.FLOWCRAFT_TEST_WORKER)
const workflow = require(path.resolve(__dirname, settings.workflowModule))

const registry = {}
for (const [name, implementation] of Object.entries(workflow.registry)) {
  registry[name] = (ctx) => {
    process.stdout.write(`EXEC ${ctx.dependencies.runId} ${ctx.dependencies.nodeId} ${ctx.dependencies.attempt}\n`)
    return implementation(ctx)
  }
}

const toStdout = (level) => (message, context) =>
  process.stdout.write(`LOG ${JSON.stringify({ level, message, context })}\n`)
const logger = settings.logToStdout
  ? { debug: toStdout('debug'), info: toStdout('info'), warn: toStdout('warn'), error: toStdout('error') }
  : undefined

const adapter = new KafkaAdapter({
  ...settings.adapter,
  logger,
  runtimeOptions: { blueprints: workflow.blueprints, registry },
  coordinationStore: new RedisCoordinationStore({ url: settings.redisUrl }),
})

async function main() {
  await adapter.start()
  process.stdout.write('READY\n')
  let assigned = ''
  let timers = ''
  const watch = setInterval(() => {
    const now = adapter.assignedPartitions().join(',')
    if (now !== assigned) process.stdout.write(`ASSIGNED ${now}\n`)
    assigned = now
    const metrics = adapter.timerMetrics()
    const timersNow = metrics ? `${metrics.partitions} ${metrics.loadingPartitions}` : ''
    if (timersNow !== timers) process.stdout.write(`TIMERS ${timersNow}\n`)
    timers = timersNow
  }, 20)
  watch.unref()
}

process.on('SIGTERM', () => {
  adapter.stop().then(
    () => process.stdout.write('STOPPED\n'),
    (error) => {
      process.stderr.write(`stop failed: ${error.message}\n`)
      process.exitCode = 1
    },
  )
})

main().catch((error) => {
  process.stderr.write(`worker failed: [${error.code}] ${error.message}\n`)
  process.exit(1)
})
