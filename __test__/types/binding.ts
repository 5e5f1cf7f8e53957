// The hand-written public types (index.d.ts) promise nothing the native binding lacks: each
// class and function of binding.d.ts (generated from the Rust code) must be usable where
// index.d.ts declares it. `tsc` (npm run typecheck) fails when one drifts.
import type * as Binding from '../../binding'
import type * as Api from '../../index'

export const inMemoryAdapter = (native: Binding.InMemoryAdapter): Api.InMemoryAdapter => native
export const kafkaAdapter = (native: Binding.KafkaAdapter): Api.KafkaAdapter => native
export const cassandraContext = (native: Binding.CassandraContext): Api.CassandraContext => native
export const redisStore = (native: Binding.RedisCoordinationStore): Api.RedisCoordinationStore => native
export const reconciler = (native: Binding.KafkaReconciler): Api.KafkaReconciler => native
export const checkConnectivity: typeof Api.checkConnectivity = null as unknown as typeof Binding.checkConnectivity
export const createKafkaReconciler = (native: ReturnType<typeof Binding.createKafkaReconciler>): ReturnType<typeof Api.createKafkaReconciler> => native
export const measureNodeCalls: typeof Api.measureNodeCalls = null as unknown as typeof Binding.measureNodeCalls

// Constructors take the same options.
export const constructors = {
  inMemory: (options: Api.InMemoryAdapterOptions) => new (null as unknown as typeof Binding.InMemoryAdapter)(options),
  kafka: (options: Api.KafkaAdapterOptions) => new (null as unknown as typeof Binding.KafkaAdapter)(options),
  cassandra: (options: Api.CassandraContextOptions) => new (null as unknown as typeof Binding.CassandraContext)(options),
  redis: (options: Api.RedisConfig) => new (null as unknown as typeof Binding.RedisCoordinationStore)(options),
}
