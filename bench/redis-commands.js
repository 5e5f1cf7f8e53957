// Redis commands per hop, counted alone: one worker and one client in this process run
// N sequential runs of a chain of 20 or of the bench's 10-node DAG, and Redis's own
// command counters (`redis-cli INFO commandstats`, which count the commands inside
// scripts) are read before and after. Nothing else may use the local Redis meanwhile.
// Run: node bench/redis-commands.js [chain20|dag10] [runs]   (local stack up; not part of npm test)
'use strict'
const { execFileSync } = require('node:child_process')
const { KafkaAdapter, RedisCoordinationStore } = require('..')
const { adapterOptions } = require('../examples/stack-settings')

const REDIS_URL = process.env.FLOWCRAFT_REDIS_URL || 'redis://127.0.0.1:6379'
const workload = process.argv[2] || 'chain20'
const runs = Number(process.argv[3] || 20)

function blueprint(shape) {
  const nodes = []
  const edges = []
  const edge = (source, target) => edges.push({ source, target })
  if (shape === 'chain20') {
    for (let i = 0; i < 20; i++) {
      nodes.push({ id: `n${i}`, uses: 'tick' })
      if (i) edge(`n${i - 1}`, `n${i}`)
    }
  } else if (shape === 'dag10') {
    nodes.push({ id: 'start', uses: 'tick' }, { id: 'join', uses: 'tick' })
    for (let i = 0; i < 4; i++) {
      nodes.push({ id: `branch_${i}`, uses: 'tick' })
      edge('start', `branch_${i}`)
      edge(`branch_${i}`, 'join')
    }
    for (let i = 0; i < 4; i++) {
      nodes.push({ id: `tail_${i}`, uses: 'tick' })
      edge(i ? `tail_${i - 1}` : 'join', `tail_${i}`)
    }
  } else {
    throw new Error(`unknown workload '${shape}' (chain20 or dag10)`)
  }
  return { id: `redis-commands-${shape}`, nodes, edges }
}

function commandCounts() {
  const info = execFileSync('redis-cli', ['-u', REDIS_URL, 'INFO', 'commandstats']).toString()
  const counts = {}
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (match) counts[match[1]] = Number(match[2])
  }
  return counts
}

async function main() {
  const flow = blueprint(workload)
  const options = {
    ...adapterOptions('redis-commands'),
    keyspace: 'flowcraft_redis_commands',
    topicName: 'redis-commands-jobs',
    groupId: 'redis-commands-workers',
    errorTopic: 'redis-commands-errors',
    partitions: 1,
  }
  const runtimeOptions = { blueprints: { [flow.id]: flow }, registry: { tick: async () => ({ output: 1 }) } }
  const worker = new KafkaAdapter({ ...options, runtimeOptions, coordinationStore: new RedisCoordinationStore({ url: REDIS_URL }) })
  await worker.start()
  const client = new KafkaAdapter({
    ...options,
    clientId: 'redis-commands-client',
    worker: false,
    runtimeOptions,
    coordinationStore: new RedisCoordinationStore({ url: REDIS_URL }),
  })
  await client.start()
  for (let i = 0; i < 3; i++) await client.run(flow.id, {}, { timeoutMs: 30000 }) // warm-up
  const before = commandCounts()
  for (let i = 0; i < runs; i++) {
    const result = await client.run(flow.id, {}, { timeoutMs: 30000 })
    if (result.status !== 'completed') throw new Error(`run ${i} ended ${result.status}`)
  }
  const after = commandCounts()
  const perRun = Object.entries(after)
    .map(([name, calls]) => [name, (calls - (before[name] || 0)) / runs])
    .filter(([name, calls]) => calls > 0 && name !== 'info')
    .sort((x, y) => y[1] - x[1])
  const total = perRun.reduce((sum, [, calls]) => sum + calls, 0)
  console.log(`${workload}, ${runs} sequential runs: ${(total / flow.nodes.length).toFixed(2)} Redis commands per hop`)
  console.log(`per run: ${perRun.map(([name, calls]) => `${name} ${calls.toFixed(1)}`).join(', ')}`)
  await client.stop()
  await worker.stop()
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`redis-commands failed: ${error.message}`)
    process.exit(1)
  },
)
