// Schedules written and read with a plain Kafka client (kafkajs), in the protocol of
// kafka-message-scheduler: independent of the addon's own code path.
import type { Consumer, IHeaders, Producer } from 'kafkajs'

import type { KafkaAdapter } from '../../../index'
import { rawKafka } from './raw-kafka'
import type { WorkerHandle } from './workers'

export interface ScheduleSpec {
  key: string
  /** Due time, ms since 1970; sent as `scheduler-epoch` (seconds) unless `millis`. */
  dueMs: number
  targetTopic: string
  targetKey: string
  value: string
  /** Also send our `flowcraft-scheduler-epoch-ms` header. */
  millis?: boolean
  headers?: IHeaders
}

export function scheduleMessage(spec: ScheduleSpec) {
  const headers: IHeaders = {
    'scheduler-epoch': String(Math.ceil(spec.dueMs / 1000)),
    'scheduler-target-topic': spec.targetTopic,
    'scheduler-target-key': spec.targetKey,
    ...spec.headers,
  }
  if (spec.millis) headers['flowcraft-scheduler-epoch-ms'] = String(spec.dueMs)
  return { key: spec.key, value: spec.value, headers }
}

export async function createTopics(topics: string[], partitions = 4): Promise<void> {
  const admin = rawKafka('test-admin').admin()
  await admin.connect()
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions })), waitForLeaders: true })
  } finally {
    await admin.disconnect()
  }
}

export async function connectedProducer(clientId: string): Promise<Producer> {
  const producer = rawKafka(clientId).producer()
  await producer.connect()
  return producer
}

export interface Arrival {
  key: string | null
  value: string | null
  headers: Record<string, string>
  receivedAt: number
  partition: number
  offset: string
}

/** Collects every committed message of `topic` from its beginning, with arrival times. */
export class Collector {
  readonly arrivals: Arrival[] = []
  private constructor(private readonly consumer: Consumer) {}

  static async start(topic: string): Promise<Collector> {
    const consumer = rawKafka(`collector-${topic}`).consumer({
      groupId: `collector-${topic}-${Date.now()}`,
      maxWaitTimeInMs: 20,
    })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const collector = new Collector(consumer)
    await new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, () => resolve())
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value)
          collector.arrivals.push({
            key: message.key?.toString() ?? null,
            value: message.value?.toString() ?? null,
            headers,
            receivedAt: Date.now(),
            partition,
            offset: message.offset,
          })
        },
      })
    })
    return collector
  }

  async until(predicate: (arrivals: Arrival[]) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate(this.arrivals)) {
      if (Date.now() > deadline) throw new Error(`timed out; ${this.arrivals.length} message(s) so far`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect()
  }
}

/** Waits until the adapter's timer service owns partitions and has read them all. */
export async function timersReady(adapter: KafkaAdapter, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const metrics = adapter.timerMetrics()
    if (metrics && metrics.partitions > 0 && metrics.loadingPartitions === 0) return
    if (Date.now() > deadline) throw new Error(`timer service not ready: ${JSON.stringify(metrics)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Waits until a worker process reports timer partitions, all read to the end. */
export async function workerTimersReady(worker: WorkerHandle, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const last = [...worker.output].reverse().find((line) => line.startsWith('TIMERS'))
    const [, owned, loading] = (last ?? '').split(' ')
    if (Number(owned) > 0 && loading === '0') return
    if (Date.now() > deadline) throw new Error(`worker timers not ready (last: ${last})`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
