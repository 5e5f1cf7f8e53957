// T2's 'all' join whose predecessor took another edge: s -> a, s -> b; a -> j on action
// 'go', a -> x on action 'other' (with `otherCondition`, if given); b -> j. j waits for a
// and b ('all'); a answers 'other'. Expectations: FlowRuntime.run (flowcraft 2.10.1) of the
// same blueprint and timings.
import type { WorkflowBlueprint } from '../../index'

export function joinBlueprint(id: string, otherCondition?: string): WorkflowBlueprint {
  return {
    id,
    nodes: [
      { id: 's', uses: 'start' },
      { id: 'a', uses: 'a' },
      { id: 'b', uses: 'b' },
      { id: 'x', uses: 'mark' },
      { id: 'j', uses: 'mark' },
    ],
    edges: [
      { source: 's', target: 'a' },
      { source: 's', target: 'b' },
      { source: 'a', target: 'j', action: 'go' },
      { source: 'a', target: 'x', action: 'other', ...(otherCondition ? { condition: otherCondition } : {}) },
      { source: 'b', target: 'j' },
    ],
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function joinRegistry(aDelay: number, bDelay: number) {
  return {
    start: async () => ({ output: 1 }),
    a: async () => {
      await sleep(aDelay)
      return { output: 'a', action: 'other' }
    },
    b: async () => {
      await sleep(bDelay)
      return { output: 'b' }
    },
    mark: async () => ({ output: 'ran' }),
  }
}

export function whatRan(context: Record<string, unknown>): { x: boolean; j: boolean } {
  return { x: '_outputs.x' in context, j: '_outputs.j' in context }
}

/** [what happens, a's other-edge condition, a's delay, b's delay, which of x and j ran]. */
export const JOIN_SCENARIOS: Array<[string, string | undefined, number, number, { x: boolean; j: boolean }]> = [
  ['a took its other edge, then b took the edge into j: j runs', undefined, 0, 300, { x: true, j: true }],
  ['b took the edge into j first, then a its other edge: j never runs (no edge into it was taken after)', undefined, 300, 0, { x: true, j: false }],
  ['a took no edge at all (its only match had a false condition) after b: j runs', 'context.never', 300, 0, { x: false, j: true }],
  ['a took no edge at all before b took the edge into j: j runs', 'context.never', 0, 300, { x: false, j: true }],
]
