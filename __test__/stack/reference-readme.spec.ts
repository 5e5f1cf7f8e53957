// The reference adapter's README, on the real stack: its worker code, with only the import
// line changed (and its placeholders filled: blueprints, registry, addresses, names), runs
// a workflow with a kafkajs instance, a cassandra-driver Client and an ioredis client.
// The README is read from the @flowcraft/kafka-adapter package the bench installs in
// bench/reference (with flowcraft, kafkajs, cassandra-driver and ioredis beside it).
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import { KafkaAdapter } from '../../index'
import type { KafkaAdapterOptions } from '../../index'
import { CASSANDRA_CONTACT_POINTS, KAFKA_BROKERS, REDIS_URL } from './services'
import { uniqueSuffix } from './kafka/stack-options'

const ROOT = path.join(__dirname, '../..')
const REFERENCE_DIR = path.join(ROOT, 'bench/reference')
const README = path.join(REFERENCE_DIR, 'node_modules/@flowcraft/kafka-adapter/README.md')
const KEYSPACE = 'flowcraft_reference_readme'

beforeAll(() => {
  if (fs.existsSync(README)) return
  const installed = spawnSync('npm', ['install', '--prefix', REFERENCE_DIR, '--no-audit', '--no-fund'], { encoding: 'utf8' })
  if (installed.status !== 0) throw new Error(`npm install in bench/reference failed: ${installed.stderr}`)
}, 300000)

/** The README's worker example: the first TypeScript block of its Usage section. */
function workerExample(): string {
  const readme = fs.readFileSync(README, 'utf8')
  const usage = readme.slice(readme.indexOf('## Usage'))
  const block = /```typescript\n([\s\S]*?)```/.exec(usage)
  if (!block) throw new Error(`no TypeScript block under '## Usage' in ${README}`)
  return block[1]
}

/** `text` with `from` replaced, which must occur exactly once. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from)
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`expected '${from}' once in the README's example`)
  return text.slice(0, at) + to + text.slice(at + from.length)
}

test("the reference README's worker code, with only the import line changed, runs a workflow", async () => {
  const suffix = uniqueSuffix()
  const topicName = `readme-jobs-${suffix}`
  const groupId = `readme-workers-${suffix}`
  let code = workerExample()
  // The one change a user makes: the import line.
  code = replaceOnce(code, "from '@flowcraft/kafka-adapter'", `from ${JSON.stringify(path.join(ROOT, 'index.mjs'))}`)
  // The README's placeholders, as any user fills them.
  const greet = { id: 'greet', nodes: [{ id: 'hello', uses: 'hello' }, { id: 'shout', uses: 'shout' }], edges: [{ source: 'hello', target: 'shout' }] }
  code = replaceOnce(code, 'const blueprints = {\n\t/* your workflow blueprints */\n}', `const blueprints = ${JSON.stringify({ greet })}`)
  code = replaceOnce(
    code,
    'const registry = {\n\t/* your node implementations */\n}',
    "const registry = { hello: async ({ context }) => ({ output: `hello ${await context.get('name')}` }), shout: async ({ input }) => ({ output: String(input).toUpperCase() }) }",
  )
  code = replaceOnce(code, "'kafka-broker:9092'", JSON.stringify(KAFKA_BROKERS[0]))
  code = replaceOnce(code, "'cassandra-node:9042'", JSON.stringify(CASSANDRA_CONTACT_POINTS[0]))
  code = replaceOnce(code, "'YOUR_REDIS_CONNECTION_STRING'", JSON.stringify(REDIS_URL))
  code = replaceOnce(code, "'your_keyspace'", JSON.stringify(KEYSPACE))
  code = replaceOnce(code, "'flowcraft-jobs'", JSON.stringify(topicName))
  code = replaceOnce(code, "'flowcraft-workers'", JSON.stringify(groupId))
  // Placed beside the reference's clients, which its imports name.
  const script = path.join(REFERENCE_DIR, `.readme-worker-${suffix}.mjs`)
  fs.writeFileSync(script, code)

  // A client of ours on the same names creates the tables (the reference's README has the
  // user create them; ours are of another shape: see docs/MIGRATING.md).
  const client = new KafkaAdapter({
    runtimeOptions: { blueprints: { greet }, registry: { hello: async () => ({}), shout: async () => ({}) } },
    coordinationStore: { url: REDIS_URL },
    kafka: { brokers: KAFKA_BROKERS },
    cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS, localDataCenter: 'datacenter1' },
    keyspace: KEYSPACE,
    contextTableName: 'flowcraft_contexts',
    statusTableName: 'flowcraft_statuses',
    topicName,
    groupId,
    ensureSchema: true,
    worker: false,
    logLevel: 'silent',
  })
  await client.start()
  const worker = spawn(process.execPath, [script], { cwd: REFERENCE_DIR, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  worker.stdout.on('data', (chunk) => (output += chunk))
  worker.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => worker.on('exit', resolve))
  try {
    const runId = await client.startRun('greet', { name: 'reader' })
    const result = await Promise.race([
      client.waitForRun(runId, { timeoutMs: 60000 }),
      exited.then((code) => {
        throw new Error(`the README's worker exited (${code}):\n${output}`)
      }),
    ])
    expect(result).toMatchObject({ status: 'completed', context: { '_outputs.hello': 'hello reader', '_outputs.shout': 'HELLO READER' } })
    expect(output).toContain('Flowcraft worker with Kafka adapter is running...')
  } finally {
    worker.kill('SIGTERM')
    await exited
    fs.rmSync(script, { force: true })
    await client.stop()
  }
}, 120000)

/** start() of an adapter on the stack but for `elsewhere`, which points at port 1 (nothing listens). */
async function startFailure(elsewhere: Partial<KafkaAdapterOptions>): Promise<unknown> {
  const suffix = uniqueSuffix()
  const adapter = new KafkaAdapter({
    runtimeOptions: { blueprints: {}, registry: {} },
    coordinationStore: { url: REDIS_URL },
    kafka: { brokers: KAFKA_BROKERS },
    cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS, localDataCenter: 'datacenter1' },
    keyspace: KEYSPACE,
    topicName: `readme-jobs-${suffix}`,
    groupId: `readme-workers-${suffix}`,
    worker: false,
    logLevel: 'silent',
    ...elsewhere,
  } as KafkaAdapterOptions)
  try {
    await adapter.start()
    return undefined
  } catch (error) {
    return error
  } finally {
    await adapter.stop()
  }
}

test('a cassandraClient is where the adapter connects to Cassandra, never a default address', async () => {
  const { Client } = await import('cassandra-driver')
  const cassandraClient = new Client({ contactPoints: ['127.0.0.1'], protocolOptions: { port: 1 }, localDataCenter: 'datacenter1', socketOptions: { connectTimeout: 2000 } })
  const error = await startFailure({ cassandra: undefined, cassandraClient } as Partial<KafkaAdapterOptions>)
  expect(error).toMatchObject({ code: 'ERR_CASSANDRA_UNREACHABLE', message: expect.stringContaining('127.0.0.1:1') })
}, 60000)

test('an ioredis client as coordinationStore is where the adapter connects to Redis', async () => {
  const { default: Redis } = await import('ioredis')
  const error = await startFailure({ coordinationStore: new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true }) })
  expect(error).toMatchObject({ code: 'ERR_REDIS_UNREACHABLE', message: expect.stringContaining('127.0.0.1:1') })
}, 60000)
