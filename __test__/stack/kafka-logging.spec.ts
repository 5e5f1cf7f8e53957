// The logger hook on the real stack: every line a worker writes reaches the user's
// Flowcraft-shaped logger with its level and context, and none goes to stderr.
import { KafkaAdapter } from '../../index'
import type { FlowcraftLogger } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { withProducer } from './kafka/raw-kafka'
import { spawnWorker, stopWorkers, untilAllAssigned } from './kafka/workers'
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loggedWorkflow = require('./kafka/logged-workflow.js')

interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  context: Record<string, unknown>
}

function keptLogger(lines: LogLine[]): FlowcraftLogger {
  const keep = (level: LogLine['level']) => (message: string, context?: Record<string, unknown>) =>
    lines.push({ level, message, context: context ?? {} })
  return { debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('20 runs with a retry and a bad message: every line reaches the logger, none reaches stderr', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions(loggedWorkflow, suffix, { logLevel: 'debug' })
  const worker = await spawnWorker('logged-workflow.js', options, { logToStdout: true })
  const clientLines: LogLine[] = []
  const client = new KafkaAdapter({ ...options, worker: false, logger: keptLogger(clientLines) })
  await client.start()
  try {
    await untilAllAssigned([worker])
    const runIds = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.startRun('logged', { flaky: i === 4 })),
    )
    await withProducer(`logging-${suffix}`, (producer) =>
      producer.send({ topic: options.topicName!, messages: [{ key: 'junk', value: '{not json' }] }),
    )
    const results = await Promise.all(runIds.map((runId) => client.waitForRun(runId, { timeoutMs: 60000 })))
    expect(results.map((r) => r.status)).toEqual(Array(20).fill('completed'))

    const workerLines = (): LogLine[] =>
      worker.output.filter((line) => line.startsWith('LOG ')).map((line) => JSON.parse(line.slice(4)) as LogLine)
    const deadline = Date.now() + 10000
    while (workerLines().filter((l) => /completed/.test(l.message)).length < 20 && Date.now() < deadline) await sleep(50)
    const lines = workerLines()
    for (const line of [...lines, ...clientLines]) {
      expect(['debug', 'info', 'warn', 'error']).toContain(line.level)
      expect(typeof line.message).toBe('string')
      expect(line.context).toEqual(expect.any(Object))
      expect(line.message).not.toMatch(/^flowcraft/)
    }
    // The retry, with the run, node and attempt it belongs to.
    const retry = lines.find((l) => l.level === 'warn' && /retrying/.test(l.message))
    expect(retry?.context).toMatchObject({ runId: runIds[4], blueprintId: 'logged', nodeId: 'save', attempt: 1 })
    expect(retry?.context.error).toMatch(/hiccupped/)
    // The bad message, with where it was and where it went.
    const letter = lines.find((l) => l.level === 'warn' && /not a job/.test(l.message))
    expect(letter?.context).toMatchObject({ topic: options.topicName, errorTopic: options.errorTopic, partition: expect.any(Number) })
    expect(letter?.context.reason).toMatch(/JSON/)
    // Each run's end on the worker, each run's start on the client that started it.
    const finished = lines.filter((l) => l.level === 'debug' && /completed/.test(l.message))
    expect(new Set(finished.map((l) => l.context.runId))).toEqual(new Set(runIds))
    const started = clientLines.filter((l) => l.level === 'debug' && /started/.test(l.message))
    expect(new Set(started.map((l) => l.context.runId))).toEqual(new Set(runIds))
  } finally {
    await client.stop()
    await stopWorkers([worker])
  }
  expect(worker.stderr()).not.toMatch(/flowcraft/i)
}, 120000)

test('without a logger, lines go to stderr at logLevel, one per event with its context', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions(loggedWorkflow, suffix, { logLevel: 'warn' })
  const worker = await spawnWorker('logged-workflow.js', options)
  try {
    await untilAllAssigned([worker])
    const client = new KafkaAdapter({ ...options, worker: false, logLevel: 'silent' })
    await client.start()
    try {
      const runId = await client.startRun('logged', { flaky: true })
      expect((await client.waitForRun(runId, { timeoutMs: 60000 })).status).toBe('completed')
    } finally {
      await client.stop()
    }
    const deadline = Date.now() + 10000
    while (!/retrying/.test(worker.stderr()) && Date.now() < deadline) await sleep(50)
  } finally {
    await stopWorkers([worker])
  }
  const lines = worker.stderr().split('\n').filter((line) => line.startsWith('flowcraft '))
  const retry = lines.find((line) => line.startsWith('flowcraft warn: ') && /retrying/.test(line))
  expect(retry).toBeDefined()
  expect(JSON.parse(retry!.slice(retry!.indexOf(' {') + 1))).toMatchObject({ nodeId: 'save', attempt: 1 })
  // Below the threshold: no debug lines.
  expect(lines.filter((line) => line.startsWith('flowcraft debug'))).toEqual([])
}, 120000)

test('a logger without the four methods or an unknown logLevel is refused up front', () => {
  const options = stackOptions(loggedWorkflow, uniqueSuffix())
  const refused = (extra: object) => {
    try {
      new KafkaAdapter({ ...options, ...extra } as never)
    } catch (error) {
      return error as { code: string; message: string }
    }
    return undefined
  }
  expect(refused({ logger: { info: () => undefined } })).toMatchObject({
    code: 'ERR_INVALID_OPTIONS',
    message: expect.stringMatching(/logger\.debug is not a function/),
  })
  expect(refused({ runtimeOptions: { ...loggedWorkflow, logger: 'console' } })).toMatchObject({
    message: expect.stringMatching(/runtimeOptions\.logger must be an object/),
  })
  expect(refused({ logLevel: 'loud' })).toMatchObject({ message: expect.stringMatching(/logLevel = 'loud'/) })
})
