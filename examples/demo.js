// The quick-start demo: two worker processes on the local Kafka + Cassandra + Redis run
// the order workflow (fan-out, 'all' join, a condition, a retry) for a few orders started
// by this process, which only starts runs and awaits their results.
// Run with `npm run demo` after `bash stack/stack.sh up`.
'use strict'
const { spawn } = require('node:child_process')
const path = require('node:path')
const { KafkaAdapter, RedisCoordinationStore } = require('..')
const { orderFlow, registry } = require('./order-workflow')
const { adapterOptions } = require('./stack-settings')

const ORDERS = [
  { items: 3, unitPrice: 20 },
  { items: 40, unitPrice: 50 },
  { items: 7, unitPrice: 15 },
  { items: 100, unitPrice: 12 },
]

function startWorker(name) {
  const child = spawn(process.execPath, [path.join(__dirname, 'worker.js'), name], { stdio: ['ignore', 'pipe', 'inherit'] })
  // Ready once the consumer group has given this worker partitions of its own.
  const ready = new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}`)))
    child.stdout.on('data', (chunk) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        console.log(`  ${line}`)
        if (/partitions: \d/.test(line)) resolve()
      }
    })
  })
  return { child, ready, exited: new Promise((resolve) => child.on('exit', resolve)) }
}

async function main() {
  console.log('starting two worker processes...')
  const workers = [startWorker('worker-1'), startWorker('worker-2')]
  await Promise.all(workers.map((w) => w.ready))

  // A client: starts runs and awaits results, consumes no jobs.
  const client = new KafkaAdapter({
    ...adapterOptions('demo-client'),
    worker: false,
    runtimeOptions: { blueprints: { [orderFlow.id]: orderFlow }, registry },
    coordinationStore: new RedisCoordinationStore({ url: process.env.FLOWCRAFT_REDIS_URL || 'redis://127.0.0.1:6379' }),
  })
  await client.start()
  const started = Date.now()
  const results = await Promise.all(
    ORDERS.map((order) => client.run(orderFlow.id, { order }, { timeoutMs: 60000 }).then((result) => ({ order, result }))),
  )
  console.log(`\n${ORDERS.length} orders in ${Date.now() - started} ms:`)
  for (const { order, result } of results) {
    const charged = result.context['_outputs.charge']
    const review = result.context['_outputs.review'] ?? 'not needed'
    console.log(`  ${order.items} x ${order.unitPrice}: ${result.status}, charged ${JSON.stringify(charged)}, review: ${JSON.stringify(review)}`)
  }
  await client.stop()
  for (const worker of workers) worker.child.kill('SIGTERM')
  await Promise.all(workers.map((w) => w.exited))
  if (results.some(({ result }) => result.status !== 'completed')) process.exitCode = 1
}

main().catch((error) => {
  console.error(`demo failed: [${error.code}] ${error.message}`)
  process.exitCode = 1
})
