// cancel(runId) from a client process while a worker owns the run: the run ends
// `cancelled` and nothing of it runs afterwards, neither its sleep's timer nor the branch
// that was running.
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { withWorkerAndClient } from './kafka/workers'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sleepWorkflow = require('./kafka/sleep-workflow.js')
// eslint-disable-next-line @typescript-eslint/no-require-imports
const gatedWorkflow = require('./kafka/gated-join-workflow.js')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('a sleeping run cancelled from a client: its timer fires and changes nothing', async () => {
  const options = stackOptions(sleepWorkflow, uniqueSuffix())
  await withWorkerAndClient('sleep-workflow.js', options, async (client) => {
    const runId = await client.startRun('napping')
    await sleep(500) // `before` ran; the run sleeps
    await expect(client.cancel(runId, 'stopped by the operator')).resolves.toBe('cancelled')
    const cancelled = await client.waitForRun(runId, { timeoutMs: 30000 })
    expect(cancelled.status).toBe('cancelled')
    expect(cancelled.reason).toContain('stopped by the operator')
    await sleep(sleepWorkflow.SLEEP_MS + 2000) // the timer is due and fired
    const later = await client.waitForRun(runId, { timeoutMs: 30000 })
    expect(later.status).toBe('cancelled')
    expect(later.context.beforeAt).toEqual(expect.any(Number))
    expect(later.context.afterAt).toBeUndefined()
    expect((await client.publishedResults(runId)).map((r) => r.status)).toEqual(['cancelled'])
  })
}, 90000)

test('runs cancelled while a branch runs on their owner: the join after it never runs', async () => {
  const options = stackOptions(gatedWorkflow, uniqueSuffix())
  await withWorkerAndClient('gated-join-workflow.js', options, async (client) => {
    const runIds = await Promise.all(Array.from({ length: 5 }, () => client.startRun('gated-join', { slowMs: 2000 })))
    await sleep(800) // the gates wait; the slow branches run
    await Promise.all(runIds.map((runId) => client.cancel(runId)))
    // A resume after the cancel is refused; nothing completes them.
    await expect(client.resumeWithAction(runIds[0], 'ok')).rejects.toMatchObject({ code: 'ERR_RUN_FINISHED' })
    await sleep(3500)
    for (const runId of runIds) {
      const result = await client.waitForRun(runId, { timeoutMs: 30000 })
      expect(result.status).toBe('cancelled')
      expect(result.context['_outputs.join']).toBeUndefined()
      expect((await client.publishedResults(runId)).map((r) => r.status)).not.toContain('completed')
    }
  })
}, 90000)
