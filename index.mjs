// The ES module entry: the same exports as `index.js` (CommonJS), re-exported by name.
// `__test__/unit/esm.spec.ts` fails when the two lists drift apart.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const binding = require('./index.js')

export const {
  CassandraContext,
  ERROR_CODES,
  FlowcraftNativeError,
  InMemoryAdapter,
  KafkaAdapter,
  RedisCoordinationStore,
  checkConnectivity,
  createKafkaReconciler,
  measureNodeCalls,
} = binding

export default binding
