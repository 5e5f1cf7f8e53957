import { CassandraContext, RedisCoordinationStore, checkConnectivity } from '../../index'
import { CASSANDRA_CA, CASSANDRA_CONTACT_POINTS, KAFKA_BROKERS, REDIS_URL, UNUSED_PORT, uniqueName } from './services'
import { rejection } from '../support/caught'

describe('round trips through the addon', () => {
  test('Kafka: produce a message and consume it back', async () => {
    const topic = uniqueName('flowcraft-probe')
    const report = await checkConnectivity({ kafka: { brokers: KAFKA_BROKERS }, kafkaProbeTopic: topic })
    expect(report.kafka?.brokerCount).toBeGreaterThanOrEqual(1)
    expect(report.kafka?.topic).toBe(topic)
    expect(report.kafka?.offset).toBeGreaterThanOrEqual(0)
    // A second trip on the same topic lands after the first.
    const again = await checkConnectivity({ kafka: { brokers: KAFKA_BROKERS }, kafkaProbeTopic: topic })
    expect(again.kafka?.offset).toBeGreaterThan(report.kafka!.offset)
  })

  test('Cassandra: release_version, then write and read context rows', async () => {
    const report = await checkConnectivity({ cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS } })
    expect(report.cassandra?.releaseVersion).toMatch(/^\d+\.\d+/)

    const runId = uniqueName('run')
    const context = new CassandraContext({
      cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS, localDataCenter: 'datacenter1' },
      keyspace: 'flowcraft_test',
      runId,
      ensureSchema: true,
    })
    expect(await context.has('answer')).toBe(false)
    expect(await context.get('answer')).toBeUndefined()
    await context.set('answer', { value: 42, nested: ['a', null] })
    await context.set('_outputs.A', 'done')
    expect(await context.get('answer')).toEqual({ value: 42, nested: ['a', null] })
    await context.patch([
      { op: 'set', key: 'b', value: 2 },
      { op: 'delete', key: 'answer' },
    ])
    expect(await context.toJSON()).toEqual({ '_outputs.A': 'done', b: 2 })
    expect(await context.delete('b')).toBe(true)
    expect(await context.delete('b')).toBe(false)

    // Another run's rows are separate.
    const other = new CassandraContext({
      cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS },
      keyspace: 'flowcraft_test',
      runId: uniqueName('run'),
    })
    expect(await other.toJSON()).toEqual({})
  })

  test('Cassandra over TLS: the server certificate is verified', async () => {
    const secure = await checkConnectivity({
      cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS, ssl: { caLocation: CASSANDRA_CA }, connectTimeoutMs: 5000 },
    })
    expect(secure.cassandra?.releaseVersion).toMatch(/^\d+\.\d+/)
    // The stack's certificate is self-signed: trusting only the system store must fail.
    const untrusted = await rejection(
      checkConnectivity({ cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS, ssl: true, connectTimeoutMs: 5000 } }),
    )
    expect(untrusted.code).toBe('ERR_CASSANDRA_UNREACHABLE')
    const missingCa = await rejection(
      checkConnectivity({ cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS, ssl: { caLocation: '/nonexistent/ca.pem' } } }),
    )
    expect(missingCa.code).toBe('ERR_CASSANDRA_CONFIG')
    expect(missingCa.message).toContain('/nonexistent/ca.pem')
  })

  test('Redis: SET/GET and the coordination commands', async () => {
    const store = new RedisCoordinationStore({ url: REDIS_URL })
    const key = uniqueName('flowcraft:test')
    expect(await store.ping()).toBe('PONG')
    expect(await store.get(key)).toBeUndefined()
    expect(await store.setIfNotExist(key, 'first', 60)).toBe(true)
    expect(await store.setIfNotExist(key, 'second', 60)).toBe(false)
    expect(await store.get(key)).toBe('first')
    expect(await store.increment(`${key}:n`, 60)).toBe(1)
    expect(await store.increment(`${key}:n`, 60)).toBe(2)
    expect(await store.extendTTL(key, 120)).toBe(true)
    await store.delete(key)
    await store.delete(`${key}:n`)
    expect(await store.get(key)).toBeUndefined()
    expect(await store.extendTTL(key, 120)).toBe(false)
    await store.close()
  })
})

describe('unreachable services fail fast with stable codes', () => {
  test('Kafka', async () => {
    const started = Date.now()
    const error = await rejection(
      checkConnectivity({ kafka: { brokers: [`127.0.0.1:${UNUSED_PORT}`], connectTimeoutMs: 2000 } }),
    )
    expect(error.code).toBe('ERR_KAFKA_UNREACHABLE')
    expect(error.message).toContain(`127.0.0.1:${UNUSED_PORT}`)
    expect(Date.now() - started).toBeLessThan(15000)
  })

  test('Cassandra', async () => {
    const error = await rejection(
      checkConnectivity({ cassandra: { contactPoints: [`127.0.0.1:${UNUSED_PORT}`], connectTimeoutMs: 2000 } }),
    )
    expect(error.code).toBe('ERR_CASSANDRA_UNREACHABLE')
    expect(error.message).toContain(`127.0.0.1:${UNUSED_PORT}`)
  })

  test('Redis', async () => {
    const store = new RedisCoordinationStore({ url: `redis://127.0.0.1:${UNUSED_PORT}`, connectTimeoutMs: 2000 })
    const error = await rejection(store.get('anything'))
    expect(error.code).toBe('ERR_REDIS_UNREACHABLE')
    expect(error.message).toContain(`127.0.0.1:${UNUSED_PORT}`)
  })

  test('a silent server (accepts, never answers) still fails within the timeout', async () => {
    const net = await import('node:net')
    const server = net.createServer(() => {})
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    try {
      const started = Date.now()
      const error = await rejection(
        checkConnectivity({ cassandra: { contactPoints: [`127.0.0.1:${port}`], connectTimeoutMs: 1500 } }),
      )
      expect(error.code).toBe('ERR_CASSANDRA_UNREACHABLE')
      expect(Date.now() - started).toBeLessThan(10000)
      const redisError = await rejection(
        new RedisCoordinationStore({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1500 }).ping(),
      )
      expect(redisError.code).toBe('ERR_REDIS_UNREACHABLE')
    } finally {
      server.close()
    }
  })
})

describe('bad options are refused with a clear error', () => {
  test('malformed broker address', async () => {
    const error = await rejection(Promise.resolve().then(() => checkConnectivity({ kafka: { brokers: ['nohostport'] } })))
    expect(error.code).toBe('ERR_KAFKA_CONFIG')
    expect(error.message).toContain("kafka.brokers[0] = 'nohostport'")
  })

  test('CQL identifiers are validated, never interpolated', () => {
    expect(
      () =>
        new CassandraContext({
          cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS },
          keyspace: 'flowcraft; DROP KEYSPACE system',
          runId: 'r',
        }),
    ).toThrow(/keyspace/)
  })

  test('a missing table is named when ensureSchema is off', async () => {
    const context = new CassandraContext({
      cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS },
      keyspace: 'flowcraft_test',
      contextTableName: 'no_such_table',
      runId: 'r',
    })
    const error = await rejection(context.connect())
    expect(error.code).toBe('ERR_CASSANDRA_MISSING_TABLE')
    expect(error.message).toContain('flowcraft_test.no_such_table')
  })
})
