// The measured process of the timer benchmark: one KafkaAdapter worker (its timer service
// owns every schedules partition). Prints `STATS <json>` with its RSS and timer counters
// every 250 ms; stops on SIGTERM.
'use strict'
const fs = require('node:fs')
const { KafkaAdapter, RedisCoordinationStore } = require('../..')
const { adapterOptions } = require('../../examples/stack-settings')

const { schedulesTopic, historyTopic, suffix } = JSON.parse(process.env.TIMER_BENCH)

function rssBytes() {
  const status = fs.readFileSync('/proc/self/status', 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024
}

const adapter = new KafkaAdapter({
  ...adapterOptions(`timer-bench-${suffix}`),
  runtimeOptions: { blueprints: {}, registry: {} },
  coordinationStore: new RedisCoordinationStore({ url: process.env.FLOWCRAFT_REDIS_URL || 'redis://127.0.0.1:6379' }),
  topicName: `timer-bench-jobs-${suffix}`,
  groupId: `timer-bench-workers-${suffix}`,
  errorTopic: `timer-bench-errors-${suffix}`,
  schedulesTopic,
  schedulesHistoryTopic: historyTopic,
  transactionalId: `timer-bench-${suffix}`,
})

adapter.start().then(
  () => {
    setInterval(() => {
      process.stdout.write(`STATS ${JSON.stringify({ rss: rssBytes(), timers: adapter.timerMetrics() })}\n`)
    }, 250)
  },
  (error) => {
    process.stderr.write(`worker failed: [${error.code}] ${error.message}\n`)
    process.exit(1)
  },
)

process.on('SIGTERM', () => {
  adapter.stop().then(() => process.exit(0))
})
