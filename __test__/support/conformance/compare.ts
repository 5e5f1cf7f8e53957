// Compares one observed run with a case's `expect`, as conformance/README.md says.
import { isDeepStrictEqual } from 'node:util'

import type { ConformanceCase } from './load-cases'

export interface Observed {
  status: string
  statusBeforeResume?: string
  reason?: string
  published: Array<{ status: string; reason?: string; publishedAt: number }>
  resumeApplied: boolean
  context: Record<string, unknown>
  executions: Map<string, number>
  durationMs: number
  nodeIds: Set<string>
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

export function compare(testCase: ConformanceCase, seen: Observed): string[] {
  const expect = testCase.expect
  const problems: string[] = []
  if (seen.status !== expect.status) problems.push(`status: expected ${expect.status}, got ${seen.status} (${seen.reason ?? ''})`)
  if (expect.statusBeforeResume !== undefined && seen.statusBeforeResume !== expect.statusBeforeResume) {
    problems.push(`statusBeforeResume: expected ${expect.statusBeforeResume}, got ${seen.statusBeforeResume}`)
  }
  if (expect.resumeApplied !== undefined && seen.resumeApplied !== expect.resumeApplied) {
    problems.push(`resumeApplied: expected ${expect.resumeApplied}, got ${seen.resumeApplied}`)
  }
  for (const part of list(expect.reasonContains)) {
    if (!(seen.reason ?? '').includes(part)) problems.push(`reason ${JSON.stringify(seen.reason)} lacks ${JSON.stringify(part)}`)
  }
  if (expect.published !== undefined) {
    const statuses = seen.published.map((p) => p.status)
    if (statuses.length !== expect.published.length || expect.published.some((p, i) => p.status !== statuses[i])) {
      problems.push(`published: expected [${expect.published.map((p) => p.status)}], got [${statuses}]`)
    }
    expect.published.forEach((p, i) => {
      for (const part of list(p.reasonContains)) {
        if (!(seen.published[i]?.reason ?? '').includes(part)) problems.push(`published[${i}].reason lacks ${JSON.stringify(part)}`)
      }
    })
  }
  if (expect.minDurationMs !== undefined && seen.durationMs < expect.minDurationMs) {
    problems.push(`final result after ${seen.durationMs} ms, expected at least ${expect.minDurationMs} ms`)
  }
  for (const [key, value] of Object.entries(expect.context ?? {})) {
    if (!Object.prototype.hasOwnProperty.call(seen.context, key)) problems.push(`context['${key}'] missing`)
    else if (!isDeepStrictEqual(seen.context[key], value)) {
      problems.push(`context['${key}']: expected ${JSON.stringify(value)}, got ${JSON.stringify(seen.context[key])}`)
    }
  }
  for (const key of expect.absent ?? []) {
    if (Object.prototype.hasOwnProperty.call(seen.context, key)) problems.push(`context['${key}'] should be absent`)
  }
  for (const key of Object.keys(seen.context)) {
    if (seen.nodeIds.has(key) && !(key in (expect.context ?? {}))) problems.push(`bare node-id key '${key}' in the context (T1)`)
  }
  const names = new Set([...Object.keys(expect.executions ?? {}), ...seen.executions.keys()])
  for (const name of names) {
    const want = (expect.executions ?? {})[name] ?? 0
    const got = seen.executions.get(name) ?? 0
    const [min, max] = Array.isArray(want) ? want : [want, want]
    if (got < min || got > max) problems.push(`executions['${name}']: expected ${JSON.stringify(want)}, got ${got}`)
  }
  return problems
}
