// A worker process of this addon for the benchmark: a KafkaAdapter over the bench
// workloads. Options come as JSON in BENCH_SETTINGS. Prints READY, then
// `ASSIGNED <partitions>` whenever its partitions change; stops cleanly on SIGTERM.
'use strict'
const { KafkaAdapter, RedisCoordinationStore } = require('../..')
const { blueprints, registry, parkedDag10 } = require('../lib/workloads')

const { redisUrl, reportFinish, parkedSleepMs, countCalls, ...options } = JSON.parse(process.env.BENCH_SETTINGS)
const workerBlueprints = parkedSleepMs ? { ...blueprints, 'bench-dag10-parked': parkedDag10(parkedSleepMs) } : blueprints

// `countCalls`: print `CALLS <n>` (node calls so far) whenever it changed, every 250 ms.
let calls = 0
const workerRegistry = countCalls
  ? Object.fromEntries(Object.entries(registry).map(([name, fn]) => [name, (ctx) => (calls++, fn(ctx))]))
  : registry
if (countCalls) {
  let reported = -1
  setInterval(() => {
    if (calls !== reported) process.stdout.write(`CALLS ${calls}\n`)
    reported = calls
  }, 250).unref()
}

const adapter = new KafkaAdapter({
  ...options,
  runtimeOptions: { blueprints: workerBlueprints, registry: workerRegistry },
  coordinationStore: new RedisCoordinationStore({ url: redisUrl }),
})

// `--addon-wait events`: tell the harness when a run finishes (push, no status polling).
if (reportFinish) adapter.on('run:finish', (event) => process.stdout.write(`FINISH ${event.runId}\n`))

process.once('SIGTERM', () => {
  adapter.stop().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`stop failed: ${error.message}\n`)
      process.exit(1)
    },
  )
})

adapter.start().then(
  () => {
    process.stdout.write('READY\n')
    let assigned = null
    setInterval(() => {
      const now = adapter.assignedPartitions().join(',')
      if (now !== assigned) process.stdout.write(`ASSIGNED ${now}\n`)
      assigned = now
    }, 50).unref()
  },
  (error) => {
    process.stderr.write(`worker failed: [${error.code}] ${error.message}\n`)
    process.exit(1)
  },
)
