// The three benchmark workloads, as Flowcraft blueprints with trivial JS nodes, and
// how a finished run is checked and turned into hop latencies.
//
// Every node returns { s, e, n }: when it started and ended (wall clock, ms with
// µs resolution, comparable across processes on this machine) and how many nodes
// ran on its path. A hop is a node's start minus the end of the predecessor that
// released it (for a join: the latest predecessor), so it covers everything the
// engine does between two nodes: persisting, fan-in, produce, commit, consume, load.
'use strict'

const now = () => Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000

function chain(prefix, length) {
  return Array.from({ length }, (_, i) => `${prefix}${i + 1}`)
}

function fanOutJoin({ id, branches, tail }) {
  const fans = Array.from({ length: branches }, (_, i) => `branch_${i + 1}`)
  const after = chain('after_', tail)
  const nodes = [
    { id: 'start', uses: 'tick' },
    ...fans.map((f) => ({ id: f, uses: 'tick' })),
    { id: 'join', uses: 'gather', params: { prefix: 'branch_', expected: branches }, config: { joinStrategy: 'all' } },
    ...after.map((a) => ({ id: a, uses: 'tick' })),
  ]
  const edges = [
    ...fans.map((f) => ({ source: 'start', target: f })),
    ...fans.map((f) => ({ source: f, target: 'join' })),
    ...after.map((a, i) => ({ source: i === 0 ? 'join' : after[i - 1], target: a })),
  ]
  return { id, nodes, edges }
}

function straightChain({ id, length }) {
  const steps = chain('step_', length)
  return {
    id,
    nodes: steps.map((s) => ({ id: s, uses: 'tick' })),
    edges: steps.slice(1).map((s, i) => ({ source: steps[i], target: s })),
  }
}

// (a) 10 nodes: start, fan-out 4, 'all' join, chain of 4; (b) 40 branches into one
// join; (c) a chain of 20. `n` of the terminal node is what a correct run ends with.
const WORKLOADS = [
  { label: '10-node DAG', blueprint: fanOutJoin({ id: 'bench-dag10', branches: 4, tail: 4 }), terminalN: 7 },
  { label: '40-branch fan-out', blueprint: fanOutJoin({ id: 'bench-fanout40', branches: 40, tail: 0 }), terminalN: 3 },
  { label: 'chain of 20', blueprint: straightChain({ id: 'bench-chain20', length: 20 }), terminalN: 20 },
]

const registry = {
  async tick(ctx) {
    const s = now()
    const n = ((ctx.input && ctx.input.n) || 0) + 1
    return { output: { s, n, e: now() } }
  },
  // The join: counts the branch outputs it can see (all of them, in a correct run).
  async gather(ctx) {
    const s = now()
    const context = await ctx.context.toJSON()
    const key = `_outputs.${ctx.params.prefix}`
    const branches = Object.keys(context).filter((k) => k.startsWith(key))
    const n = 1 + Math.max(0, ...branches.map((k) => (context[k] && context[k].n) || 0))
    return { output: { s, n, arrived: branches.length, e: now() } }
  },
}

const blueprints = Object.fromEntries(WORKLOADS.map((w) => [w.blueprint.id, w.blueprint]))

// The 10-node DAG with its last branch a durable `sleep` of `sleepMs`: its join waits on
// the slow branch, so the run stays in flight with nothing running (bench/in-flight).
function parkedDag10(sleepMs) {
  const blueprint = fanOutJoin({ id: 'bench-dag10-parked', branches: 4, tail: 4 })
  blueprint.nodes = blueprint.nodes.map((n) => (n.id === 'branch_4' ? { id: n.id, uses: 'sleep', params: { duration: sleepMs } } : n))
  return blueprint
}

function describe(workload) {
  const { nodes, edges } = workload.blueprint
  const predecessors = new Map(nodes.map((n) => [n.id, []]))
  for (const edge of edges) predecessors.get(edge.target).push(edge.source)
  const targets = new Set(edges.map((e) => e.source))
  return {
    nodeIds: nodes.map((n) => n.id),
    predecessors,
    terminal: nodes.map((n) => n.id).filter((id) => !targets.has(id)),
  }
}

const shapes = new Map(WORKLOADS.map((w) => [w.blueprint.id, describe(w)]))

function workloadById(id) {
  const workload = WORKLOADS.find((w) => w.blueprint.id === id)
  if (!workload) throw new Error(`unknown workload ${id}`)
  return workload
}

// Checks a finished run's context. Returns { ok, reason, nodeTimes, hops, terminalEnd }:
// nodeTimes = start of every node (for hops/s), hops = [start, latency ms] per
// released node.
function examineRun(workloadId, context) {
  const workload = workloadById(workloadId)
  const shape = shapes.get(workloadId)
  const outputs = new Map()
  const missing = []
  for (const id of shape.nodeIds) {
    const out = context[`_outputs.${id}`]
    if (out && typeof out.s === 'number' && typeof out.e === 'number') outputs.set(id, out)
    else missing.push(id)
  }
  const nodeTimes = [...outputs.values()].map((o) => o.s)
  if (missing.length) return { ok: false, reason: `no output for ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? '...' : ''}`, nodeTimes, hops: [] }
  const hops = []
  let reason = null
  for (const [id, preds] of shape.predecessors) {
    if (!preds.length) continue
    const node = outputs.get(id)
    const released = Math.max(...preds.map((p) => outputs.get(p).e))
    // A node that started before a predecessor ended ran too early (e.g. a join
    // that fired before all its branches); 0.5 ms allows for clock reading skew.
    if (node.s + 0.5 < released && !reason) reason = `${id} started ${(released - node.s).toFixed(1)} ms before its predecessor ended`
    hops.push([node.s, node.s - released])
  }
  const join = outputs.get('join')
  const joinNode = workload.blueprint.nodes.find((n) => n.id === 'join')
  if (joinNode && join.arrived !== joinNode.params.expected && !reason) reason = `join saw ${join.arrived} of ${joinNode.params.expected} branches`
  const last = outputs.get(shape.terminal[0])
  if (last.n !== workload.terminalN && !reason) reason = `terminal n = ${last.n}, expected ${workload.terminalN}`
  return { ok: !reason, reason, nodeTimes, hops, terminalEnd: last.e }
}

// The graphs as the raw floor reads them.
function floorWorkloads() {
  return WORKLOADS.map(({ blueprint }) => ({
    id: blueprint.id,
    nodes: blueprint.nodes.map((n) => n.id),
    edges: blueprint.edges.map((e) => [e.source, e.target]),
  }))
}

module.exports = { WORKLOADS, blueprints, parkedDag10, registry, examineRun, workloadById, floorWorkloads, now }
