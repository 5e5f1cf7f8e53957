// Batch scatter at size (not a test): one addon worker runs a scatter of N items, each
// item a JS worker call, gathered by an 'all' join, and the run's result is checked item
// by item. Prints the time per size and items per second.
//
//   node bench/batch/run.js [--sizes 1000,10000] [--chunk-size 0]
//
// Needs the local stack (bash stack/stack.sh up). Writes bench/results/batch.{json,md}
// (--out DIR for elsewhere).
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { KafkaAdapter, RedisCoordinationStore } = require('../..')
const { stack, namesFor, addonAdapterOptions } = require('../lib/stack-config')

const args = process.argv.slice(2)
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const SIZES = String(arg('sizes', '1000,10000')).split(',').map(Number)
const CHUNK_SIZE = Number(arg('chunk-size', '0'))
const OUT = path.resolve(arg('out', path.join(__dirname, '..', 'results')))

const scatter = {
  id: 'scatter',
  nodes: [
    { id: 'prepare', uses: 'prepare' },
    {
      id: 'scatter',
      uses: 'batch-scatter',
      inputs: 'prepare',
      params: { workerUsesKey: 'double', gatherNodeId: 'gather', ...(CHUNK_SIZE > 0 ? { chunkSize: CHUNK_SIZE } : {}) },
    },
    { id: 'gather', uses: 'batch-gather', params: { gatherNodeId: 'gather', outputKey: 'results' }, config: { joinStrategy: 'all' } },
  ],
  edges: [
    { source: 'prepare', target: 'scatter' },
    { source: 'scatter', target: 'gather' },
  ],
}
const registry = {
  prepare: async (ctx) => ({ output: Array.from({ length: await ctx.context.get('size') }, (_, i) => i) }),
  double: async (ctx) => ({ output: ctx.input * 2 }),
}

async function main() {
  const session = Date.now().toString(36)
  const names = namesFor('batch', session, 1)
  const adapter = new KafkaAdapter({
    ...addonAdapterOptions(names, names.clientId),
    runtimeOptions: { blueprints: { scatter }, registry },
    coordinationStore: new RedisCoordinationStore({ url: stack.redisUrl }),
  })
  await adapter.start()
  const rows = []
  try {
    for (const size of SIZES) {
      const began = process.hrtime.bigint()
      const result = await adapter.run('scatter', { size }, { timeoutMs: 30 * 60 * 1000 })
      const seconds = Number(process.hrtime.bigint() - began) / 1e9
      const results = result.context.results
      const correct = result.status === 'completed' && Array.isArray(results) && results.length === size && results.every((v, i) => v === i * 2)
      rows.push({ size, seconds: Number(seconds.toFixed(2)), itemsPerSecond: Math.round(size / seconds), status: result.status, correct })
      console.log(`[batch] ${size} items: ${seconds.toFixed(2)} s (${Math.round(size / seconds)} items/s), ${result.status}, correct: ${correct}`)
    }
  } finally {
    await adapter.stop()
  }
  fs.mkdirSync(OUT, { recursive: true })
  const measuredAt = new Date().toISOString()
  fs.writeFileSync(path.join(OUT, 'batch.json'), JSON.stringify({ measuredAt, chunkSize: CHUNK_SIZE, rows }, null, 2) + '\n')
  const table = ['| items | seconds | items/s | status | correct |', '|---|---|---|---|---|']
  for (const r of rows) table.push(`| ${r.size} | ${r.seconds} | ${r.itemsPerSecond} | ${r.status} | ${r.correct} |`)
  fs.writeFileSync(path.join(OUT, 'batch.md'), `# Batch scatter, one worker (${measuredAt})\n\n${table.join('\n')}\n`)
  if (rows.some((r) => !r.correct)) process.exitCode = 1
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
