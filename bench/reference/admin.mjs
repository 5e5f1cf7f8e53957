// Set-up and clean-up the harness does with the reference's own clients (kafkajs,
// cassandra-driver): topics with the same partition count for every contender, the
// reference's tables, and committed offsets for its fresh consumer group.
import cassandra from 'cassandra-driver'
import { Kafka, logLevel } from 'kafkajs'

export async function withAdmin(brokers, work) {
  const admin = new Kafka({ clientId: 'bench-admin', brokers, logLevel: logLevel.ERROR }).admin()
  await admin.connect()
  try {
    return await work(admin)
  } finally {
    await admin.disconnect()
  }
}

export function createTopics(brokers, topics) {
  return withAdmin(brokers, (admin) =>
    admin.createTopics({ waitForLeaders: true, topics: topics.map(({ topic, partitions }) => ({ topic, numPartitions: partitions, replicationFactor: 1 })) }),
  )
}

export function deleteTopics(brokers, topics) {
  return withAdmin(brokers, async (admin) => {
    const existing = new Set(await admin.listTopics())
    const doomed = topics.filter((t) => existing.has(t))
    if (doomed.length) await admin.deleteTopics({ topics: doomed, timeout: 10000 })
  })
}

// The reference subscribes with fromBeginning: false, so a brand-new group would skip
// start jobs produced before it joined (K8). §9.2 says to give the group committed
// offsets first: offset 0 of the fresh topic.
export function commitOffsetsAtStart(brokers, groupId, topic, partitions) {
  return withAdmin(brokers, (admin) =>
    admin.setOffsets({ groupId, topic, partitions: Array.from({ length: partitions }, (_, partition) => ({ partition, offset: '0' })) }),
  )
}

// The README's two tables, plus the `status` column its own reconciler section and its
// code need (its CREATE TABLE example omits it, and publishFinalResult then fails: K6).
export async function ensureReferenceSchema({ contactPoints, localDataCenter, keyspace, contextTableName, statusTableName }) {
  const client = new cassandra.Client({ contactPoints, localDataCenter })
  try {
    await client.execute(`CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`)
    await client.execute(`CREATE TABLE IF NOT EXISTS ${keyspace}.${contextTableName} (run_id text PRIMARY KEY, context_data text)`)
    await client.execute(
      `CREATE TABLE IF NOT EXISTS ${keyspace}.${statusTableName} (run_id text PRIMARY KEY, status text, status_data text, updated_at timestamp)`,
    )
  } finally {
    await client.shutdown()
  }
}
