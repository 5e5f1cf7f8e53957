// Several worker processes in one consumer group, on the real stack.
import { KafkaAdapter } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { executions, spawnWorker, stopWorkers, untilAllAssigned } from './kafka/workers'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fanOutWorkflow = require('./kafka/fan-out-workflow.js')

const RUNS = 20

describe('worker processes sharing a consumer group', () => {
  test.each([1, 2])('%i worker process(es): 20 runs of a 40-branch fan-out keep every key and join once', async (workerCount) => {
    const options = stackOptions(fanOutWorkflow, uniqueSuffix(), { concurrency: 64, batchMaxN: 64, batchMaxMs: 20 })
    const workers = await Promise.all(Array.from({ length: workerCount }, () => spawnWorker('fan-out-workflow.js', options)))
    await untilAllAssigned(workers)
    const client = new KafkaAdapter({ ...options, worker: false })
    await client.start()
    try {
      const started = Date.now()
      const results = await Promise.all(Array.from({ length: RUNS }, () => client.run('fan-out-40', {}, { timeoutMs: 90000 })))
      console.log(`${workerCount} worker process(es): ${RUNS} runs x ${fanOutWorkflow.BRANCHES} branches in ${Date.now() - started} ms`)
      for (const result of results) {
        expect(result.status).toBe('completed')
        for (let i = 0; i < fanOutWorkflow.BRANCHES; i++) expect(result.context[`branch.${i}`]).toBe(i)
        expect(result.context['_outputs.join']).toEqual({ keys: fanOutWorkflow.BRANCHES })
      }
      await client.stop()
      await stopWorkers(workers)
      const counts = executions(workers)
      for (const result of results) {
        expect(counts.get(`${result.runId} join`)).toBe(1)
        for (let i = 0; i < fanOutWorkflow.BRANCHES; i++) expect(counts.get(`${result.runId} branch_${i}`)).toBe(1)
      }
      if (workerCount > 1) {
        for (const worker of workers) expect(worker.output.some((line) => line.startsWith('EXEC '))).toBe(true)
      }
      for (const worker of workers) expect(worker.output).toContain('STOPPED')
    } finally {
      await client.stop().catch(() => undefined)
      await stopWorkers(workers)
    }
  })
})
