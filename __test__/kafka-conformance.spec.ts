// The shared conformance suite through KafkaAdapter on the real Kafka, Cassandra and
// Redis: one worker, one job at a time, oldest first, as the suite prescribes.
import * as path from 'node:path'

import { KafkaAdapter } from '../index'
import { CONFORMANCE_DIR, loadCases } from './conformance/load-cases'
import { caseBlueprints, countBuiltIns, countingRegistry, ExecutionCounter, runCaseOnce } from './conformance/run-case'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sharedRegistry = require(path.join(CONFORMANCE_DIR, 'registry.js'))

const cases = loadCases()
const outcomes: Array<{ name: string; problems: string[] }> = []

afterAll(() => {
  const failed = outcomes.filter((o) => o.problems.length > 0)
  for (const { name, problems } of failed) console.log(`FAIL ${name}\n  ${problems.join('\n  ')}`)
  console.log(`conformance (KafkaAdapter, real stack): ${outcomes.length - failed.length} passed, ${failed.length} failed`)
})

describe('conformance on KafkaAdapter (Kafka + Cassandra + Redis)', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const counter = new ExecutionCounter()
    const registry = countingRegistry(sharedRegistry, counter)
    const adapter = new KafkaAdapter(
      stackOptions({ blueprints: caseBlueprints(testCase), registry }, uniqueSuffix(), { concurrency: 1, batchMaxN: 1 }),
    )
    countBuiltIns(adapter, testCase, registry, counter)
    await adapter.start()
    const problems: string[] = []
    try {
      for (let run = 1; run <= (testCase.sameWorkerRuns ?? 1); run++) {
        problems.push(...(await runCaseOnce(adapter, testCase, counter)).map((p) => `run ${run}: ${p}`))
      }
    } finally {
      await adapter.stop()
    }
    outcomes.push({ name: testCase.name, problems })
    expect(problems).toEqual([])
  })
})
