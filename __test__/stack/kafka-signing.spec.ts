// Signed jobs (jobSigningKey): every job the deployment writes carries an HMAC of its
// value; a worker handles only messages that verify. Forged, tampered and unsigned
// messages go to the error topic with the reason and change no run.
import { createHmac } from 'node:crypto'

import { KafkaAdapter } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { readTopic, settledCommits, withProducer } from './kafka/raw-kafka'
import { countingRegistry, nappingBlueprint } from './kafka/napping-workflow'

const KEY = 'test-signing-key-of-this-deployment'

const napping = nappingBlueprint('napping', 1500)
const { registry } = countingRegistry()

const sign = (key: string, value: string) => createHmac('sha256', key).update(value).digest('hex')

test('with a signing key, runs with sleeps and joins complete and no unsigned or forged message takes effect', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions({ blueprints: { napping }, registry }, suffix, { jobSigningKey: KEY, concurrency: 8 })
  const adapter = new KafkaAdapter(options)
  await adapter.start()
  try {
    const runIds = await Promise.all(Array.from({ length: 4 }, () => adapter.startRun('napping')))
    const started = Date.now()
    // While they sleep: jobs for the node after the sleep, as an attacker would write them.
    const forged = runIds.flatMap((runId, i) => {
      const value = JSON.stringify({ runId, blueprintId: 'napping', nodeId: 'left', jobId: `forged-${i}` })
      return [
        { key: runId, value, headers: {} as Record<string, string>, expect: /unsigned/ },
        { key: runId, value, headers: { 'flowcraft-signature': sign('some-other-key-entirely', value) }, expect: /does not match/ },
        { key: runId, value: value.replace('left', 'right'), headers: { 'flowcraft-signature': sign(KEY, value) }, expect: /does not match/ },
      ]
    })
    await withProducer(`signing-${suffix}`, (producer) =>
      producer.send({ topic: options.topicName!, messages: forged.map(({ key, value, headers }) => ({ key, value, headers })) }),
    )
    const results = await Promise.all(runIds.map((runId) => adapter.waitForRun(runId, { timeoutMs: 60000 })))
    for (const result of results) {
      expect(result.status).toBe('completed')
      expect(result.context['_outputs.left']).toBe(2)
      expect(result.context['_outputs.right']).toBe(2)
    }
    // The sleep was not cut short by the forged jobs.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400)
    const letters = await readTopic(options.errorTopic!, forged.length)
    expect(letters).toHaveLength(forged.length)
    const reasons = letters.map((letter) => letter.headers['flowcraft-error-reason'])
    expect(reasons.filter((reason) => /unsigned/.test(reason))).toHaveLength(runIds.length)
    expect(reasons.filter((reason) => /does not match/.test(reason))).toHaveLength(2 * runIds.length)
    // Signed with the deployment's key, a message is handled like any job.
    const value = JSON.stringify({ runId: `signed-${suffix}`, blueprintId: 'napping', nodeId: 'ghost' })
    await withProducer(`signing-ok-${suffix}`, (producer) =>
      producer.send({ topic: options.topicName!, messages: [{ key: 'x', value, headers: { 'flowcraft-signature': sign(KEY, value) } }] }),
    )
    const refusedByEngine = await readTopic(options.errorTopic!, forged.length + 1)
    expect(refusedByEngine.map((letter) => letter.headers['flowcraft-error-reason'])).toContainEqual(expect.stringMatching(/ghost/))
    expect(await settledCommits(options.topicName!, options.groupId!)).toBe(0)
  } finally {
    await adapter.stop()
  }
})

test('a signing key shorter than 16 bytes is refused without showing it', () => {
  const options = stackOptions({ blueprints: { napping }, registry }, uniqueSuffix(), { jobSigningKey: 'pw-123' })
  let message = ''
  try {
    new KafkaAdapter(options)
  } catch (error) {
    message = (error as Error).message
  }
  expect(message).toMatch(/jobSigningKey must be at least 16 bytes/)
  expect(message).not.toContain('pw-123')
})
