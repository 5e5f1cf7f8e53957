// The public types refuse what they should: each `@ts-expect-error` below must stay an
// error, so `tsc` (npm run typecheck) fails when the typings loosen (an `any` creeping in,
// a generic lost); the other lines must keep compiling.
import { Client as CassandraClient } from 'cassandra-driver'
import Redis from 'ioredis'
import { Kafka } from 'kafkajs'

import {
  ERROR_CODES,
  FlowcraftNativeError,
  InMemoryAdapter,
  KafkaAdapter,
  RedisCoordinationStore,
  type FlowcraftErrorCode,
  type JsonValue,
  type NodeContext,
  type NodeFunction,
  type NodeResult,
  type RunResult,
  type RuntimeOptions,
} from '../../index'

interface OrderContext {
  order: { items: number; unitPrice: number }
  total: number
}

type OrderNode<TInput> = NodeContext<OrderContext, { currency: string }, TInput>

const price: NodeFunction<OrderContext, { currency: string }, OrderContext['order'], number> = async (ctx: OrderNode<OrderContext['order']>) => {
  const order = await ctx.context.get('order')
  // @ts-expect-error a typed context key holds its own type, not a string
  const wrong: string | undefined = order
  void wrong
  // (set() of another key takes any value JSON can write: Flowcraft's untyped overload.)
  await ctx.context.set('note', { at: Date.now() })
  await ctx.context.set('total', (ctx.input?.items ?? 0) * (ctx.input?.unitPrice ?? 0))
  // @ts-expect-error dependencies are typed: no such dependency
  void ctx.dependencies.database
  const currency: string = ctx.dependencies.currency
  const runId: string = ctx.dependencies.runId
  void [currency, runId]
  return { output: 1 }
}

const runtimeOptions: RuntimeOptions = {
  blueprints: [{ id: 'order', nodes: [{ id: 'price', uses: 'price' }], edges: [] }],
  registry: { price },
}

// @ts-expect-error a registry entry must be a node function or class
const badRegistry: RuntimeOptions = { blueprints: [], registry: { price: 5 } }
void badRegistry

export async function typed(): Promise<void> {
  const adapter = new InMemoryAdapter<OrderContext>({ runtimeOptions })
  // @ts-expect-error the blueprint id is a string
  await adapter.startRun(5)
  // @ts-expect-error the initial context follows OrderContext
  await adapter.startRun('order', { order: { items: 'three', unitPrice: 2 } })
  const result: RunResult<OrderContext> = await adapter.run('order', { order: { items: 3, unitPrice: 2 } })
  const total: number | undefined = result.context.total
  const output: JsonValue | undefined = result.context['_outputs.price']
  // @ts-expect-error context values are JSON, not anything
  const notJson: () => void = result.context['_outputs.price']
  void [total, output, notJson]
  // start() and stop() resolve with nothing.
  // @ts-expect-error Promise<void>: nothing to read
  const started: string = await adapter.start()
  void started
  // @ts-expect-error unknown events are refused
  adapter.on('node:bogus', () => {})
}

export function options(): void {
  // @ts-expect-error KafkaAdapter needs kafka and cassandra settings
  new KafkaAdapter({ runtimeOptions })
  // @ts-expect-error Cassandra's settings or a cassandra-driver Client are needed
  new KafkaAdapter({ runtimeOptions, coordinationStore: {}, kafka: { brokers: [] } })
  // The reference adapter's clients are taken as they are.
  new KafkaAdapter({
    runtimeOptions,
    coordinationStore: new Redis({ lazyConnect: true }),
    kafka: new Kafka({ brokers: ['127.0.0.1:9092'] }),
    cassandraClient: new CassandraClient({ contactPoints: ['127.0.0.1'], localDataCenter: 'datacenter1' }),
  })
  new RedisCoordinationStore(new Redis({ lazyConnect: true }))
  // @ts-expect-error a kafkajs config names brokers as strings
  new KafkaAdapter({ runtimeOptions, coordinationStore: {}, kafka: { brokers: [9092] }, cassandra: { contactPoints: [] } })
  // @ts-expect-error delivery is one of two modes
  new KafkaAdapter({ runtimeOptions, coordinationStore: {}, kafka: { brokers: [] }, cassandra: { contactPoints: [] }, delivery: 'sometimes' })
}

export function errors(error: unknown): FlowcraftErrorCode | undefined {
  if (error instanceof FlowcraftNativeError) {
    // @ts-expect-error code is the union of ERROR_CODES, not any string
    const wrong: 'ERR_NOT_A_CODE' = error.code
    void wrong
    const known: readonly FlowcraftErrorCode[] = ERROR_CODES
    return known.includes(error.code) ? error.code : undefined
  }
  return undefined
}

export const classNode = class {
  async exec(input: number): Promise<number> {
    return input * 2
  }
  async post(doubled: number): Promise<NodeResult<number>> {
    return { output: doubled }
  }
}
