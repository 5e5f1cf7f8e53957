// Typed errors on the stack: the error paths of the README's table that need a live
// service produce a FlowcraftNativeError with their code, details and cause, down to the
// client library's own code (the paths that need no service: __test__/unit/errors.spec.ts).
import { spawnSync } from 'node:child_process'

import cassandra from 'cassandra-driver'

import { CassandraContext, FlowcraftNativeError, KafkaAdapter, RedisCoordinationStore, checkConnectivity } from '../../index'
import type { FlowcraftErrorCode, KafkaAdapterOptions } from '../../index'
import { CASSANDRA_CONTACT_POINTS, KAFKA_BROKERS, REDIS_URL, uniqueName } from './services'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { failure } from '../support/caught'

/** A Redis command through redis-cli (Debian's redis-tools, installed with the stack). */
function redisCli(...args: string[]): void {
  const result = spawnSync('redis-cli', ['-u', REDIS_URL, ...args], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${result.stderr}`)
}

interface ErrorPath {
  code: FlowcraftErrorCode
  how: string
  run: () => Promise<FlowcraftNativeError>
  details?: Partial<Record<'runId' | 'topic' | 'table', string | RegExp>>
  /** The codes of `cause`, then of its cause... (null: a cause that has no code). */
  causes?: Array<string | null>
}

const keyspace = 'flowcraft_test'
const paths: ErrorPath[] = [
  {
    code: 'ERR_CASSANDRA_MISSING_TABLE',
    how: 'a context table that does not exist, without ensureSchema',
    run: () => {
      const table = uniqueName('missing').replace(/-/g, '_')
      return failure(() => new CassandraContext({ cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS }, keyspace, contextTableName: table, runId: 'r' }).get('k'))
    },
    details: { table: /missing_/ },
  },
  {
    code: 'ERR_CASSANDRA_QUERY',
    how: 'a table of another shape (system.local) read as a context table',
    run: () => failure(() => new CassandraContext({ cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS }, keyspace: 'system', contextTableName: 'local', runId: 'r' }).get('k')),
    details: { table: 'system.local' },
    causes: [null],
  },
  {
    code: 'ERR_CASSANDRA_SCHEMA',
    how: 'ensureSchema of a table in a keyspace Cassandra keeps to itself (system_schema)',
    run: () =>
      failure(() =>
        new CassandraContext({
          cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS },
          keyspace: 'system_schema',
          contextTableName: uniqueName('ctx'),
          runId: 'r',
          ensureSchema: true,
        }).get('k'),
      ),
    details: { table: /system_schema/ },
    causes: [null],
  },
  {
    code: 'ERR_CASSANDRA_TOO_LARGE',
    how: 'one value over the 15 MiB request limit',
    run: () => {
      const context = new CassandraContext({ cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS }, keyspace, contextTableName: 'too_large_ctx', runId: 'big-run', ensureSchema: true })
      return failure(() => context.set('blob', 'x'.repeat(16 * 1024 * 1024)))
    },
    details: { runId: 'big-run', table: /too_large_ctx/ },
  },
  {
    code: 'ERR_INVALID_INPUT',
    how: 'CassandraContext.set of a value nested past the 100 levels every run value is held to',
    run: () => {
      const context = new CassandraContext({ cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS }, keyspace, contextTableName: 'deep_ctx', runId: 'deep-run', ensureSchema: true })
      const deep = (levels: number): unknown => (levels === 0 ? 1 : [deep(levels - 1)])
      // 111 levels: napi's own conversion takes it (it refuses past 128 as ERR_INVALID_ARG).
      return failure(() => context.set('deep', deep(110)))
    },
  },
  {
    code: 'ERR_KAFKA_CREATE_TOPIC',
    how: 'a probe topic name the broker refuses',
    run: () => failure(() => checkConnectivity({ kafka: { brokers: KAFKA_BROKERS }, kafkaProbeTopic: 'bad topic name!' })),
    details: { topic: 'bad topic name!' },
    causes: ['InvalidTopic'],
  },
  {
    code: 'ERR_KAFKA_CONSUME',
    how: 'a probe read the broker holds back (fetch.min.bytes far above the message) past the timeout',
    run: () => {
      const topic = uniqueName('probe-held')
      const config = { 'fetch.wait.max.ms': '300000', 'fetch.min.bytes': '100000000' }
      return failure(() => checkConnectivity({ kafka: { brokers: KAFKA_BROKERS, connectTimeoutMs: 8000, config }, kafkaProbeTopic: topic }))
    },
    details: { topic: /^probe-held_/ },
    causes: [null],
  },
  {
    code: 'ERR_REDIS_COMMAND',
    how: "a store command on a key of another type (Redis's WRONGTYPE)",
    run: async () => {
      const key = uniqueName('wrong-type')
      redisCli('RPUSH', key, 'a list')
      return failure(() => new RedisCoordinationStore({ url: REDIS_URL }).increment(key, 1))
    },
    causes: ['WRONGTYPE'],
  },
]

/** An adapter on topics of its own: a client (consumes no jobs) unless `extra` says otherwise. */
function clientAdapter(suffix: string, kafkaConfig: Record<string, string> = {}, extra: Partial<KafkaAdapterOptions> = {}): KafkaAdapter {
  const runtimeOptions = { blueprints: [{ id: 'one', nodes: [{ id: 'a', uses: 'a' }], edges: [] }], registry: { a: async () => ({ output: 1 }) } }
  const options = stackOptions(runtimeOptions, suffix, { worker: false, logLevel: 'silent', ...extra })
  return new KafkaAdapter({ ...options, kafka: { ...options.kafka, config: kafkaConfig } })
}

paths.push(
  {
    code: 'ERR_BACKEND',
    how: "a start job over the broker's message size: ERR_KAFKA_PRODUCE with librdkafka's code under it",
    run: async () => {
      const adapter = clientAdapter(uniqueSuffix(), { 'message.max.bytes': '1000' })
      await adapter.start()
      try {
        // Without a runId the start job carries the initial context (one write fewer).
        return await failure(() => adapter.startRun('one', { big: 'x'.repeat(5000) }))
      } finally {
        await adapter.stop()
      }
    },
    details: { runId: /^[0-9a-f-]{36}$/ },
    causes: ['ERR_KAFKA_PRODUCE', 'MessageSizeTooLarge'],
  },
  {
    code: 'ERR_KAFKA_TRANSACTION',
    how: "delivery: 'transactional' with a transaction timeout over the broker's maximum",
    run: async () => {
      const adapter = clientAdapter(uniqueSuffix(), { 'transaction.timeout.ms': '3600000' }, { worker: true, delivery: 'transactional' })
      const error = await failure(() => adapter.start())
      await adapter.stop()
      return error
    },
    causes: [null],
  },
  {
    code: 'ERR_NOT_STARTED',
    how: 'a run started on a stopped adapter',
    run: async () => {
      const adapter = clientAdapter(uniqueSuffix())
      await adapter.start()
      await adapter.stop()
      return failure(() => adapter.startRun('one', {}))
    },
    causes: ['ERR_NOT_STARTED'],
  },
)

paths.push({
  code: 'ERR_CASSANDRA_DECODE',
  how: 'a context value another writer stored as text that is not JSON',
  run: async () => {
    const table = 'foreign_writer_ctx'
    const runId = uniqueName('decode-run')
    const context = new CassandraContext({ cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS }, keyspace, contextTableName: table, runId, ensureSchema: true })
    await context.set('note', 'written by the addon')
    const client = new cassandra.Client({ contactPoints: CASSANDRA_CONTACT_POINTS, localDataCenter: 'datacenter1' })
    try {
      await client.execute(`UPDATE ${keyspace}.${table} SET value = ? WHERE run_id = ? AND key = ?`, ['plain text, not JSON', runId, 'note'], { prepare: true })
    } finally {
      await client.shutdown()
    }
    return failure(() => context.get('note'))
  },
  details: { runId: /^decode-run/, table: /foreign_writer_ctx/ },
  causes: [null],
})

describe('each error path on the stack gives its class, code and cause', () => {
  test.each(paths.map((p) => [p.code, p.how, p] as const))('%s: %s', async (_code, _how, errorPath) => {
    const error = await errorPath.run()
    expect(error).toBeInstanceOf(FlowcraftNativeError)
    expect({ name: error.name, code: error.code, message: error.message }).toEqual({
      name: 'FlowcraftNativeError',
      code: errorPath.code,
      message: expect.any(String),
    })
    for (const [key, value] of Object.entries(errorPath.details ?? {})) {
      const actual = error[key as 'runId' | 'topic' | 'table']
      if (value instanceof RegExp) expect(actual).toMatch(value)
      else expect(actual).toBe(value)
    }
    let cause: { code?: string; message: string; cause?: unknown } | undefined = error.cause
    for (const expected of errorPath.causes ?? []) {
      expect(cause).toBeDefined()
      expect(typeof cause?.message).toBe('string')
      expect(cause?.code).toBe(expected ?? undefined)
      cause = cause?.cause as typeof cause
    }
  })

  test("ERR_BACKEND: a run API failing in a backend names the run, with the backend's error and the client's under it", async () => {
    const suffix = uniqueSuffix()
    const adapter = clientAdapter(suffix)
    await adapter.start()
    try {
      const runId = `wrong-type-run-${suffix}`
      const started = await adapter.startRun('one', {}, { runId })
      expect(started).toBe(runId)
      const hash = spawnSync('redis-cli', ['-u', REDIS_URL, '--scan', '--pattern', `*${runId}*`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)
      expect(hash.length).toBeGreaterThan(0)
      // The run's coordination hash becomes a string: every script on it fails with WRONGTYPE.
      for (const key of hash) redisCli('SET', key, 'not a hash')
      const error = await failure(() => adapter.startRun('one', {}, { runId, ifExists: 'overwrite' }))
      expect({ name: error.name, code: error.code, runId: error.runId }).toEqual({ name: 'FlowcraftNativeError', code: 'ERR_BACKEND', runId })
      const backend = error.cause as FlowcraftNativeError
      expect(backend).toBeInstanceOf(FlowcraftNativeError)
      expect(backend.code).toBe('ERR_REDIS_COMMAND')
      expect((backend.cause as { code?: string }).code).toBe('WRONGTYPE')
    } finally {
      await adapter.stop()
    }
  })
})

test('ERR_KAFKA_CLOSED: a worker whose consumer a newer instance of its transactionalId fenced says so with the code, and counts it', async () => {
  // Nothing of the caller's fails here (no run API is waiting on the consumer): the
  // worker's log line and `flowcraft_errors_total` are where an operator sees it.
  const suffix = uniqueSuffix()
  const logged: Array<{ message: string; context: Record<string, unknown> }> = []
  const quiet = () => undefined
  const logger = { debug: quiet, info: quiet, warn: quiet, error: (message: string, context?: Record<string, unknown>) => logged.push({ message, context: context ?? {} }) }
  const runtimeOptions = { blueprints: [{ id: 'one', nodes: [{ id: 'a', uses: 'a' }], edges: [] }], registry: { a: async () => ({ output: 1 }) } }
  const options = stackOptions(runtimeOptions, suffix, { transactionalId: `fenced-${suffix}`, logLevel: 'error' })
  const first = new KafkaAdapter({ ...options, logger })
  const second = new KafkaAdapter({ ...options, logLevel: 'silent' })
  await first.start()
  try {
    // The same static group membership: the group takes the newer one, and the older
    // consumer is fenced for good (librdkafka's fatal error).
    await second.start()
    const deadline = Date.now() + 60000
    while (!logged.some((line) => line.context.code === 'ERR_KAFKA_CLOSED') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const closed = logged.find((line) => line.context.code === 'ERR_KAFKA_CLOSED')
    expect(closed?.message).toMatch(/cannot receive jobs .*failed fatally/)
    expect(first.metrics()).toMatch(/^flowcraft_errors_total\{code="ERR_KAFKA_CLOSED"\} 1$/m)
  } finally {
    await second.stop()
    await first.stop()
  }
}, 90000)
