// The shared conformance suite as jest tests, for any adapter: every case of
// ../shared/conformance/cases run as its README prescribes, with a closing
// `N passed, N failed` line.
import * as path from 'node:path'

import type { NodeFunction, RuntimeOptions } from '../../../index'
import { CONFORMANCE_DIR, loadCases } from './load-cases'
import { caseBlueprints, countBuiltIns, countingRegistry, ExecutionCounter, runCaseOnce, type WorkflowAdapter } from './run-case'

export interface StartableAdapter extends WorkflowAdapter {
  start(): Promise<unknown>
  stop(): Promise<unknown>
}

export function conformanceSuite(label: string, makeAdapter: (runtimeOptions: RuntimeOptions) => StartableAdapter): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharedRegistry: Record<string, NodeFunction> = require(path.join(CONFORMANCE_DIR, 'registry.js'))
  const cases = loadCases()
  const outcomes: Array<{ name: string; problems: string[] }> = []

  afterAll(() => {
    const failed = outcomes.filter((o) => o.problems.length > 0)
    for (const { name, problems } of failed) console.log(`FAIL ${name}\n  ${problems.join('\n  ')}`)
    console.log(`conformance (${label}): ${outcomes.length - failed.length} passed, ${failed.length} failed`)
  })

  describe(`conformance on ${label}`, () => {
    test('finds the shared cases', () => {
      expect(cases.length).toBeGreaterThanOrEqual(33)
    })

    test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
      const counter = new ExecutionCounter()
      const registry = countingRegistry(sharedRegistry, counter)
      const adapter = makeAdapter({ blueprints: caseBlueprints(testCase), registry })
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
}
