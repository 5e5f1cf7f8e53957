// The shared conformance suite through KafkaAdapter on the real Kafka, Cassandra and
// Redis: one worker, one job at a time, oldest first, each case on its own topics.
import { KafkaAdapter } from '../../index'
import { conformanceSuite } from '../support/conformance/suite'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'

conformanceSuite(
  'KafkaAdapter, real stack',
  (runtimeOptions) => new KafkaAdapter(stackOptions(runtimeOptions, uniqueSuffix(), { concurrency: 1, batchMaxN: 1 })),
)
