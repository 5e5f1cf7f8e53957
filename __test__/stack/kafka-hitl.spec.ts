// Human in the loop across restarts: a run paused on `wait` outlives every worker and is
// resumed from another process.
import { KafkaAdapter } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { executions, spawnWorker, stopWorkers } from './kafka/workers'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const reviewWorkflow = require('./kafka/review-workflow.js')

test('a run awaiting a human survives every worker being restarted and is resumed from a client', async () => {
  const options = stackOptions({ blueprints: reviewWorkflow.blueprints, registry: reviewWorkflow.registry }, uniqueSuffix())
  const first = await spawnWorker('./review-workflow.js', options)
  const starter = new KafkaAdapter({ ...options, worker: false })
  await starter.start()
  const runId = await starter.startRun('review')
  expect((await starter.waitForRun(runId, { timeoutMs: 30000 })).status).toBe('awaiting')
  await starter.stop()
  first.child.kill('SIGKILL')
  await first.exited

  // Every process that knew the run is gone; a new worker and a new client take over.
  const second = await spawnWorker('./review-workflow.js', options)
  const resumer = new KafkaAdapter({ ...options, worker: false })
  await resumer.start()
  try {
    await resumer.resumeWithAction(runId, 'approve', { by: 'ada' })
    const result = await resumer.waitForRun(runId, { timeoutMs: 30000 })
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.approved']).toBe('approved')
    expect(result.context['_outputs.rejected']).toBeUndefined()
    const counts = executions([first, second])
    expect(counts.get(`${runId} submit`)).toBe(1)
    expect(counts.get(`${runId} approved`)).toBe(1)
    expect(counts.has(`${runId} rejected`)).toBe(false)
  } finally {
    await resumer.stop()
    await stopWorkers([second])
  }
}, 90000)
