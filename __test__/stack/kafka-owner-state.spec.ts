// The partition owner keeps its runs' state in memory (engine::run_state): these prove it
// never acts on a stale copy when another process changes a run, or when partitions move.
import { KafkaAdapter } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { executions, spawnWorker, stopWorkers, untilAllAssigned, withWorkerAndClient, WorkerHandle } from './kafka/workers'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fanOutWorkflow = require('./kafka/fan-out-workflow.js')
// eslint-disable-next-line @typescript-eslint/no-require-imports
const gatedWorkflow = require('./kafka/gated-join-workflow.js')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('a run resumed by another process while its owner holds it: the owner sees the resume', async () => {
  const options = stackOptions(gatedWorkflow, uniqueSuffix())
  await withWorkerAndClient('gated-join-workflow.js', options, async (client) => {
    const runIds = await Promise.all(Array.from({ length: 5 }, () => client.startRun('gated-join', { slowMs: 2500 })))
    await sleep(800) // the gates have run; the slow branches have not finished
    await Promise.all(runIds.map((runId) => client.resumeWithAction(runId, 'ok', { approvedBy: runId })))
    const results = await Promise.all(runIds.map((runId) => client.waitForRun(runId, { timeoutMs: 30000 })))
    for (const [i, result] of results.entries()) {
      expect(result.status).toBe('completed')
      expect(result.context['_outputs.join']).toEqual({ gate: { approvedBy: runIds[i] }, slow: 'late' })
    }
  })
}, 90000)

test('a rebalance mid-load (a worker joins, then one leaves): every run completes once with every key', async () => {
  const runs = 40
  const options = stackOptions(fanOutWorkflow, uniqueSuffix(), { concurrency: 32, batchMaxN: 32 })
  const workers: WorkerHandle[] = await Promise.all([1, 2].map(() => spawnWorker('fan-out-workflow.js', options)))
  await untilAllAssigned(workers)
  const client = new KafkaAdapter({ ...options, worker: false })
  await client.start()
  try {
    const first = await Promise.all(Array.from({ length: runs / 2 }, () => client.startRun('fan-out-40')))
    while (!workers.some((w) => w.output.some((line) => line.startsWith('EXEC ')))) await sleep(2)
    workers.push(await spawnWorker('fan-out-workflow.js', options)) // joins: partitions move
    const second = await Promise.all(Array.from({ length: runs / 2 }, () => client.startRun('fan-out-40')))
    await sleep(300)
    const leaving = workers[0]
    leaving.child.kill('SIGTERM') // leaves: its partitions move again
    await leaving.exited
    const runIds = [...first, ...second]
    const results = await Promise.all(runIds.map((runId) => client.waitForRun(runId, { timeoutMs: 90000 })))
    for (const result of results) {
      expect(result.status).toBe('completed')
      for (let i = 0; i < fanOutWorkflow.BRANCHES; i++) expect(result.context[`branch.${i}`]).toBe(i)
      // The join read every branch's key: no owner used a copy older than the moves.
      expect(result.context['_outputs.join']).toEqual({ keys: fanOutWorkflow.BRANCHES })
    }
    for (const runId of runIds) expect(await client.publishedResults(runId)).toHaveLength(1)
    const joins = executions(workers)
    for (const runId of runIds) expect(joins.get(`${runId} join`)).toBe(1)
  } finally {
    await client.stop()
    await stopWorkers(workers.filter((w) => w.child.exitCode === null))
  }
}, 120000)
