// A plain Kafka client (kafkajs), independent of the addon, for producing and reading
// raw messages in tests.
import { Kafka, logLevel, type Producer } from 'kafkajs'

import { KAFKA_BROKERS } from '../services'

export function rawKafka(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING })
}

export async function withProducer<T>(clientId: string, body: (producer: Producer) => Promise<T>): Promise<T> {
  const producer = rawKafka(clientId).producer()
  await producer.connect()
  try {
    return await body(producer)
  } finally {
    await producer.disconnect()
  }
}

export interface RawMessage {
  key: string | null
  value: Buffer | null
  headers: Record<string, string>
}

/** Reads `topic` from the beginning until `count` messages arrived (or the timeout). */
export async function readTopic(topic: string, count: number, timeoutMs = 30000): Promise<RawMessage[]> {
  const consumer = rawKafka(`reader-${topic}`).consumer({ groupId: `reader-${topic}-${Date.now()}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const messages: RawMessage[] = []
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    void consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value)
        messages.push({ key: message.key?.toString() ?? null, value: message.value, headers })
        if (messages.length >= count) {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
  return messages
}

/** Messages of `topic` that `groupId` has not committed yet, summed over partitions. */
export async function uncommitted(topic: string, groupId: string): Promise<number> {
  const admin = rawKafka(`lag-${topic}`).admin()
  await admin.connect()
  try {
    const ends = await admin.fetchTopicOffsets(topic)
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
    const at = new Map(committed.partitions.map((p) => [p.partition, Number(p.offset)]))
    return ends.reduce((sum, end) => sum + Number(end.high) - Math.max(at.get(end.partition) ?? 0, 0), 0)
  } finally {
    await admin.disconnect()
  }
}

/** Waits until `groupId` has committed every message of `topic`; returns what is left. */
export async function settledCommits(topic: string, groupId: string, timeoutMs = 30000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let left = await uncommitted(topic, groupId)
  while (left > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    left = await uncommitted(topic, groupId)
  }
  return left
}
