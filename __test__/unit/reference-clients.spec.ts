// The reference adapter's constructor arguments without services: a cassandra-driver
// Client, an ioredis client and a kafkajs instance or config are read through their public
// API, or refused saying what to pass; nothing falls back to a default address. (On the
// stack, the reference README's worker code runs: __test__/stack/reference-readme.spec.ts.)
import { Client as CassandraClient, auth } from 'cassandra-driver'
import Redis, { Cluster } from 'ioredis'
import { Kafka, logLevel } from 'kafkajs'

import { FlowcraftNativeError, InMemoryAdapter, KafkaAdapter, RedisCoordinationStore, createKafkaReconciler } from '../../index'
import type { FlowcraftLogger, KafkaAdapterOptions } from '../../index'
import { failure } from '../support/caught'

const runtimeOptions = { blueprints: { one: { id: 'one', nodes: [{ id: 'a', uses: 'a' }], edges: [] } }, registry: { a: async () => ({ output: 1 }) } }
// Nothing listens on port 1 of this machine.
const CLOSED = '127.0.0.1:1'

/** The reference's options, as its README passes them, with `overrides`. */
function referenceOptions(overrides: Record<string, unknown> = {}): KafkaAdapterOptions {
  return {
    runtimeOptions,
    coordinationStore: { url: `redis://${CLOSED}` },
    kafka: { brokers: [CLOSED] },
    cassandraClient: new CassandraClient({ contactPoints: [CLOSED], localDataCenter: 'datacenter1' }),
    keyspace: 'your_keyspace',
    contextTableName: 'flowcraft_contexts',
    statusTableName: 'flowcraft_statuses',
    worker: false,
    logLevel: 'silent',
    ...overrides,
  } as unknown as KafkaAdapterOptions
}

function refusal(build: () => unknown): FlowcraftNativeError {
  try {
    build()
  } catch (error) {
    return error as FlowcraftNativeError
  }
  throw new Error('expected a refusal')
}

describe('an ioredis client given to RedisCoordinationStore', () => {
  test('is connected to where the client points, never to the default address', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 1, db: 3, lazyConnect: true })
    const store = new RedisCoordinationStore(client as unknown as ConstructorParameters<typeof RedisCoordinationStore>[0])
    const error = await failure(() => store.get('k'))
    expect(error.code).toBe('ERR_REDIS_UNREACHABLE')
    expect(error.message).toContain(CLOSED)
    expect(error.message).not.toContain('6379')
  })

  test.each([
    ['a Redis Cluster client', () => new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }), /Redis Cluster client.*pass \{ url \}/],
    ['a Sentinel client', () => new Redis({ sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'primary', lazyConnect: true }), /Sentinel.*pass \{ url \} of the primary/],
    ['a Unix socket', () => new Redis({ path: '/tmp/redis.sock', lazyConnect: true }), /Unix socket \/tmp\/redis.sock/],
    ['TLS certificates held in memory', () => new Redis({ host: '127.0.0.1', port: 1, tls: { ca: 'PEM' }, lazyConnect: true }), /tls: \{ caLocation/],
    [
      'an object of another client library (node-redis: sendCommand and options too)',
      () => new (class RedisClient { options = { socket: { host: 'redis.example', port: 6380 } }; sendCommand() {} })(),
      /is a RedisClient: pass a RedisCoordinationStore, its options/,
    ],
    ['options shaped for ioredis', () => ({ host: 'redis.example', port: 6380 }), /has host, which the store's options do not take: give \{ url/],
  ])('refuses %s, saying what to pass', (_what, client, message) => {
    const error = refusal(() => new RedisCoordinationStore(client() as never))
    expect(error).toBeInstanceOf(FlowcraftNativeError)
    expect(error.code).toBe('ERR_INVALID_OPTIONS')
    expect(error.message).toMatch(message)
  })

  test('is taken as the adapter\'s coordinationStore too', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true })
    const adapter = new KafkaAdapter(referenceOptions({ coordinationStore: client, cassandraClient: undefined, cassandra: { contactPoints: [CLOSED] } }))
    expect(adapter).toBeInstanceOf(KafkaAdapter)
  })
})

describe('a cassandra-driver Client as cassandraClient', () => {
  test('is read for its contact points, data centre and credentials', () => {
    const client = new CassandraClient({
      contactPoints: ['127.0.0.1'],
      protocolOptions: { port: 1 },
      localDataCenter: 'dc1',
      authProvider: new auth.PlainTextAuthProvider('user', 'secret'),
    })
    expect(new KafkaAdapter(referenceOptions({ cassandraClient: client }))).toBeInstanceOf(KafkaAdapter)
  })

  test.each([
    ['with cassandra as well', { cassandra: { contactPoints: [CLOSED] } }, /give cassandra or cassandraClient, not both/],
    ['that is not a Client', { cassandraClient: { contactPoints: [CLOSED] } }, /cassandraClient is not a cassandra-driver Client/],
    [
      'with certificates in memory',
      { cassandraClient: new CassandraClient({ contactPoints: [CLOSED], localDataCenter: 'dc1', sslOptions: { ca: ['PEM'] } }) },
      /sslOptions holds certificates.*ssl: \{ caLocation/,
    ],
    [
      'with an authenticator other than plain text',
      { cassandraClient: new CassandraClient({ contactPoints: [CLOSED], localDataCenter: 'dc1', authProvider: new (class KerberosAuthProvider extends (auth as unknown as { AuthProvider: new () => object }).AuthProvider {})() as never }) },
      /authProvider is not a PlainTextAuthProvider.*credentials: \{ username, password \}/,
    ],
  ])('is refused %s', (_what, overrides, message) => {
    const error = refusal(() => new KafkaAdapter(referenceOptions(overrides)))
    expect(error).toBeInstanceOf(FlowcraftNativeError)
    expect(error.code).toBe('ERR_INVALID_OPTIONS')
    expect(error.message).toMatch(message)
  })
})

describe('kafka as kafkajs takes it', () => {
  test('a Kafka instance: its brokers are asked of its admin API at start(), and an unreachable one fails start', async () => {
    const kafka = new Kafka({ brokers: [CLOSED], connectionTimeout: 300, retry: { retries: 0 }, logLevel: logLevel.NOTHING })
    const adapter = new KafkaAdapter(referenceOptions({ kafka }))
    const error = await failure(() => adapter.start())
    expect(error).toBeInstanceOf(FlowcraftNativeError)
    expect(error.code).toBe('ERR_KAFKA_UNREACHABLE')
    expect(error.message).toMatch(/admin\(\)\.describeCluster\(\) did not name the brokers/)
    expect(error.cause).toBeDefined()
    await adapter.stop()
  })

  test('a config whose brokers() names nothing usable fails start saying so', async () => {
    const adapter = new KafkaAdapter(referenceOptions({ kafka: { brokers: async () => 'not a list' } }))
    const error = await failure(() => adapter.start())
    expect(error.code).toBe('ERR_INVALID_OPTIONS')
    expect(error.message).toMatch(/kafka.brokers\(\) returned string/)
    await adapter.stop()
  })

  test.each([
    ['a SASL mechanism librdkafka is not given here', { brokers: [CLOSED], sasl: { mechanism: 'aws', username: 'u', password: 'p' } }, /sasl.mechanism 'aws' is not supported/],
    ['an OAUTHBEARER provider (no username)', { brokers: [CLOSED], sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: 't' }) } }, /sasl.mechanism 'oauthbearer' is not supported/],
    ['TLS options with no librdkafka counterpart', { brokers: [CLOSED], ssl: { ca: 'PEM', ciphers: 'HIGH' } }, /kafka.ssl.ciphers cannot be passed on/],
    ['a TLS server name', { brokers: [CLOSED], ssl: { ca: 'PEM', servername: 'kafka.example' } }, /kafka.ssl.servername cannot be passed on/],
    ['TLS material that is not text', { brokers: [CLOSED], ssl: { ca: [42] } }, /kafka.ssl.ca\[0\] is not PEM text/],
  ])('a config with %s is refused', (_what, kafka, message) => {
    const error = refusal(() => new KafkaAdapter(referenceOptions({ kafka })))
    expect(error.code).toBe('ERR_INVALID_OPTIONS')
    expect(error.message).toMatch(message)
  })

  test('a config with PEM text and a connection timeout is taken', () => {
    const kafka = { brokers: [CLOSED], clientId: 'app', ssl: { ca: [Buffer.from('PEM')], rejectUnauthorized: false }, sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' }, connectionTimeout: 1000 }
    expect(new KafkaAdapter(referenceOptions({ kafka }))).toBeInstanceOf(KafkaAdapter)
  })
})

describe("createKafkaReconciler with the reference's options", () => {
  test('takes cassandraClient, keyspace and statusTableName when they are the adapter\'s', () => {
    const adapter = new KafkaAdapter(referenceOptions())
    const reconciler = createKafkaReconciler({
      adapter,
      cassandraClient: new CassandraClient({ contactPoints: [CLOSED], localDataCenter: 'datacenter1' }),
      keyspace: 'your_keyspace',
      statusTableName: 'flowcraft_statuses',
      stalledThresholdSeconds: 300,
    } as never)
    expect(typeof reconciler.run).toBe('function')
  })

  test('refuses tables that are not the adapter\'s', () => {
    const adapter = new KafkaAdapter(referenceOptions())
    const error = refusal(() => createKafkaReconciler({ adapter, keyspace: 'elsewhere' } as never))
    expect(error.code).toBe('ERR_INVALID_OPTIONS')
    expect(error.message).toMatch(/keyspace 'elsewhere' is not the adapter's \('your_keyspace'\)/)
  })
})

test("FlowRuntime options this adapter does not act on are said, not dropped", async () => {
  const warnings: string[] = []
  const quiet = () => undefined
  const logger: FlowcraftLogger = { debug: quiet, info: quiet, warn: (message) => warnings.push(message), error: quiet }
  const options = { ...runtimeOptions, middleware: [{ beforeNode: () => undefined }], strict: true, eventBus: { emit: async () => undefined }, serializer: { serialize: JSON.stringify }, somethingElse: 1 }
  new InMemoryAdapter({ runtimeOptions: options, logger } as never)
  // Lines reach a JS logger through the event loop.
  for (let wait = 0; warnings.length < 2 && wait < 50; wait++) await new Promise((resolve) => setTimeout(resolve, 20))
  await new Promise((resolve) => setTimeout(resolve, 50))
  // strict, middleware and eventBus are honoured, so not said.
  expect(warnings.sort()).toEqual([
    expect.stringMatching(/^runtimeOptions.serializer is not supported.*JSON/),
    expect.stringMatching(/^runtimeOptions.somethingElse is not an option this adapter knows/),
  ])
})

test("FlowRuntime's defaults (strict: false, no middleware) and honoured strict and middleware: no warning", async () => {
  const warnings: string[] = []
  const quiet = () => undefined
  const logger: FlowcraftLogger = { debug: quiet, info: quiet, warn: (message) => warnings.push(message), error: quiet }
  new InMemoryAdapter({ runtimeOptions: { ...runtimeOptions, strict: false, middleware: [] }, logger } as never)
  new InMemoryAdapter({ runtimeOptions: { ...runtimeOptions, strict: true }, logger } as never)
  new InMemoryAdapter({ runtimeOptions: { ...runtimeOptions, middleware: [{ aroundNode: async () => ({}) }] }, logger } as never)
  new InMemoryAdapter({ runtimeOptions: { ...runtimeOptions, somethingElse: 1 }, logger } as never)
  // The last adapter's warning arrives after the others' would have.
  for (let wait = 0; warnings.length < 1 && wait < 50; wait++) await new Promise((resolve) => setTimeout(resolve, 20))
  await new Promise((resolve) => setTimeout(resolve, 50))
  expect(warnings).toEqual([expect.stringMatching(/^runtimeOptions.somethingElse is not an option/)])
})
