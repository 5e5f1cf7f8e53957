// Reads the shared conformance cases (../shared/conformance, beside the repository).
import * as fs from 'node:fs'
import * as path from 'node:path'

import type { WorkflowBlueprint } from '../../../index'

export const CONFORMANCE_DIR = process.env.FLOWCRAFT_CONFORMANCE_DIR ?? path.resolve(__dirname, '../../../../shared/conformance')

export interface ConformanceCase {
  name: string
  blueprint: WorkflowBlueprint
  subBlueprints?: Record<string, WorkflowBlueprint>
  initialContext?: Record<string, unknown>
  clientBlueprintVersion?: string | null
  clientOmitsVersion?: boolean
  resume?: { action: string; output?: unknown }
  sameWorkerRuns?: number
  expect: {
    status: string
    statusBeforeResume?: string
    reasonContains?: string | string[]
    published?: Array<{ status: string; reasonContains?: string | string[] }>
    resumeApplied?: boolean
    minDurationMs?: number
    context?: Record<string, unknown>
    absent?: string[]
    executions?: Record<string, number | [number, number]>
  }
}

export function loadCases(): ConformanceCase[] {
  const dir = path.join(CONFORMANCE_DIR, 'cases')
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as ConformanceCase)
}

export const BUILT_INS = new Set(['wait', 'sleep', 'webhook', 'subflow', 'batch-scatter', 'batch-gather', 'loop-controller'])
