// A run that sleeps between two steps and fans into an 'all' join: long enough asleep
// for tests to send it forged or stray jobs meanwhile.
export function nappingBlueprint(id: string, sleepMs: number) {
  return {
    id,
    nodes: [
      { id: 'before', uses: 'step' },
      { id: 'nap', uses: 'sleep', params: { duration: sleepMs } },
      { id: 'left', uses: 'step' },
      { id: 'right', uses: 'step' },
      { id: 'join', uses: 'sum', config: { joinStrategy: 'all' as const } },
    ],
    edges: [
      { source: 'before', target: 'nap' },
      { source: 'nap', target: 'left' },
      { source: 'nap', target: 'right' },
      { source: 'left', target: 'join' },
      { source: 'right', target: 'join' },
    ],
  }
}

/** `step` adds one to its input and counts its calls; `sum` passes its input on. */
export function countingRegistry() {
  let calls = 0
  const registry = {
    step: async (ctx: { input?: number }) => {
      calls += 1
      return { output: (typeof ctx.input === 'number' ? ctx.input : 0) + 1 }
    },
    sum: async (ctx: { input?: unknown }) => ({ output: ctx.input }),
  }
  return { registry, calls: () => calls }
}
