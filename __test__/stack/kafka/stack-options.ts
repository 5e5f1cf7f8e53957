// KafkaAdapter options for tests on the local stack, each test on its own topics.
import { RedisCoordinationStore } from '../../../index'
import type { KafkaAdapterOptions, KafkaAdapterSettings, LogLevel, RuntimeOptions } from '../../../index'
import { CASSANDRA_CONTACT_POINTS, KAFKA_BROKERS, REDIS_URL } from '../services'

export const TEST_KEYSPACE = 'flowcraft_test'

export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
}

export function stackOptions(runtimeOptions: RuntimeOptions, suffix: string, extra: Partial<KafkaAdapterSettings> = {}): KafkaAdapterOptions {
  return {
    runtimeOptions,
    coordinationStore: new RedisCoordinationStore({ url: REDIS_URL }),
    kafka: { brokers: KAFKA_BROKERS, clientId: `test-${suffix}` },
    cassandra: { contactPoints: CASSANDRA_CONTACT_POINTS, localDataCenter: 'datacenter1' },
    keyspace: TEST_KEYSPACE,
    ensureSchema: true,
    topicName: `test-jobs-${suffix}`,
    groupId: `test-workers-${suffix}`,
    errorTopic: `test-errors-${suffix}`,
    schedulesTopic: `test-schedules-${suffix}`,
    schedulesHistoryTopic: `test-schedules-history-${suffix}`,
    resultsTopic: `test-results-${suffix}`,
    partitions: 4,
    // Tests that look at log lines set their own level; the others stay quiet unless asked.
    logLevel: (process.env.FLOWCRAFT_LOG as LogLevel | undefined) ?? 'silent',
    ...extra,
  }
}
