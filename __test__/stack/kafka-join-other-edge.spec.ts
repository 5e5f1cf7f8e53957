// T2 on the stack: an 'all' join counts a predecessor that completed, whichever edge it took
// (the same scenarios as __test__/unit/flowruntime-parity.spec.ts, through Kafka and Redis).
import { KafkaAdapter } from '../../index'
import { JOIN_SCENARIOS, joinBlueprint, joinRegistry, whatRan } from '../support/join-other-edge'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'

test.each(JOIN_SCENARIOS)('%s', async (_name, condition, aDelay, bDelay, ran) => {
  const blueprint = joinBlueprint('join-other-edge', condition)
  const adapter = new KafkaAdapter(stackOptions({ blueprints: [blueprint], registry: joinRegistry(aDelay, bDelay) }, uniqueSuffix()))
  await adapter.start()
  try {
    const result = await adapter.run(blueprint.id, {}, { timeoutMs: 30000 })
    expect(result.status).toBe('completed')
    expect(whatRan(result.context)).toEqual(ran)
  } finally {
    await adapter.stop()
  }
}, 60000)
