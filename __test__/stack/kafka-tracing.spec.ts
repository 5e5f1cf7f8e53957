// W3C trace context across hops on the real stack: a run started inside an
// OpenTelemetry span continues its trace; each node makes a span with the ids its
// `ctx.trace` gives, and the parent/child chain follows the blueprint's edges. Job
// messages carry `traceparent` and lineage headers; dead letters keep them.
import { ROOT_CONTEXT, context, trace, TraceFlags, defaultTextMapSetter } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type IdGenerator } from '@opentelemetry/sdk-trace-base'

import { KafkaAdapter } from '../../index'
import type { FlowcraftEvent, NodeTrace } from '../../index'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { readTopic, withProducer } from './kafka/raw-kafka'
import { thrown } from '../support/caught'

// Node spans take the span id the addon gives the node (`ctx.trace.spanId`), so the
// spans of successors, made on other hops, name it as their parent.
let nextSpanId: string | undefined
const random = (bytes: number) => Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join('')
const idGenerator: IdGenerator = {
  generateTraceId: () => random(16),
  generateSpanId: () => {
    const id = nextSpanId ?? random(8)
    nextSpanId = undefined
    return id
  },
}
const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ idGenerator, spanProcessors: [new SimpleSpanProcessor(exporter)] })
const tracer = provider.getTracer('flowcraft-test')

interface TracedContext {
  trace?: NodeTrace
  dependencies: { nodeId: string }
}

/** A node body that records one span per call, as a user's instrumentation would. */
async function traced(ctx: TracedContext) {
  const node = ctx.trace!
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: node.traceId,
    spanId: node.parentSpanId,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  })
  nextSpanId = node.spanId
  tracer.startSpan(ctx.dependencies.nodeId, {}, parent).end()
  return { output: ctx.dependencies.nodeId }
}

const diamond = {
  id: 'diamond',
  metadata: { version: '7' },
  nodes: ['a', 'b', 'c', 'd'].map((id) => ({ id, uses: 'traced' })),
  edges: [
    { source: 'a', target: 'b' },
    { source: 'a', target: 'c' },
    { source: 'b', target: 'd' },
    { source: 'c', target: 'd' },
  ],
}

test('a run started inside a span: every node in its trace, parents along the edges, headers on every job', async () => {
  const suffix = uniqueSuffix()
  const options = stackOptions({ blueprints: { diamond }, registry: { traced } }, suffix)
  const adapter = new KafkaAdapter(options)
  const starts: FlowcraftEvent[] = []
  adapter.on('node:start', (event) => starts.push(event))
  await adapter.start()
  try {
    const request = tracer.startSpan('http request')
    const carrier: Record<string, string> = {}
    new W3CTraceContextPropagator().inject(trace.setSpan(context.active(), request), carrier, defaultTextMapSetter)
    const runId = await adapter.startRun('diamond', {}, { traceparent: carrier.traceparent })
    request.end()
    expect((await adapter.waitForRun(runId, { timeoutMs: 30000 })).status).toBe('completed')

    const spans = new Map(exporter.getFinishedSpans().map((span) => [span.name, span]))
    const traceId = request.spanContext().traceId
    for (const name of ['a', 'b', 'c', 'd']) expect(spans.get(name)?.spanContext().traceId).toBe(traceId)
    const parentOf = (name: string) => spans.get(name)!.parentSpanContext?.spanId
    const idOf = (name: string) => spans.get(name)!.spanContext().spanId
    expect(parentOf('a')).toBe(request.spanContext().spanId)
    expect(parentOf('b')).toBe(idOf('a'))
    expect(parentOf('c')).toBe(idOf('a'))
    // The join runs once, as a child of whichever predecessor completed it.
    expect([idOf('b'), idOf('c')]).toContain(parentOf('d'))
    // The events carry the same trace.
    const started = starts.find((event) => event.nodeId === 'b')
    expect(started?.trace).toMatchObject({ traceId, spanId: idOf('b'), parentSpanId: idOf('a') })

    // Every job message names its trace (its parent span) and lineage in headers.
    const messages = await readTopic(options.topicName!, 4, 10000)
    expect(messages).toHaveLength(4)
    for (const message of messages) {
      expect(message.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
      expect(message.headers['flowcraft-run-id']).toBe(runId)
      expect(message.headers['flowcraft-blueprint']).toBe('diamond')
      expect(message.headers['flowcraft-blueprint-version']).toBe('7')
    }
    const byNode = new Map(messages.map((m) => [JSON.parse(m.value!.toString()).nodeId as string, m]))
    expect(byNode.get('a')!.headers['flowcraft-parent-job']).toBeUndefined()
    expect(byNode.get('b')!.headers.traceparent).toBe(`00-${traceId}-${idOf('a')}-01`)
    expect(byNode.get('b')!.headers['flowcraft-parent-job']).toBe(JSON.parse(byNode.get('a')!.value!.toString()).jobId)
    // The result announcement carries the trace of the node that settled the run.
    const [announced] = await readTopic(options.resultsTopic!, 1, 10000)
    expect(announced.headers['flowcraft-run-id']).toBe(runId)
    expect(announced.headers.traceparent).toBe(`00-${traceId}-${idOf('d')}-01`)

    // A message that cannot be read keeps its trace and lineage headers in the error topic.
    const refused = byNode.get('b')!
    await withProducer(`tracing-${suffix}`, (producer) =>
      producer.send({ topic: options.topicName!, messages: [{ key: runId, value: '{cut short', headers: refused.headers }] }),
    )
    const [letter] = await readTopic(options.errorTopic!, 1, 15000)
    expect(letter.headers.traceparent).toBe(refused.headers.traceparent)
    expect(letter.headers['flowcraft-run-id']).toBe(runId)
    expect(letter.headers['flowcraft-parent-job']).toBe(refused.headers['flowcraft-parent-job'])
  } finally {
    await adapter.stop()
  }
}, 90000)

test('a run started outside any trace gets one of its own; a bad traceparent is refused', async () => {
  const suffix = uniqueSuffix()
  const seen: NodeTrace[] = []
  const chain = { id: 'chain', nodes: [{ id: 'a', uses: 'look' }, { id: 'b', uses: 'look' }], edges: [{ source: 'a', target: 'b' }] }
  const look = async (ctx: TracedContext) => {
    seen.push(ctx.trace!)
    return { output: 1 }
  }
  const adapter = new KafkaAdapter(stackOptions({ blueprints: { chain }, registry: { look } }, suffix))
  await adapter.start()
  try {
    const runId = await adapter.startRun('chain')
    expect((await adapter.waitForRun(runId, { timeoutMs: 30000 })).status).toBe('completed')
    expect(seen).toHaveLength(2)
    expect(seen[0].traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(seen[1].traceId).toBe(seen[0].traceId)
    expect(seen[1].parentSpanId).toBe(seen[0].spanId)
    expect(seen[0].traceparent).toBe(`00-${seen[0].traceId}-${seen[0].spanId}-01`)
    expect(thrown(() => adapter.startRun('chain', {}, { traceparent: 'not-a-traceparent' }))).toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/options\.traceparent/),
    })
  } finally {
    await adapter.stop()
  }
}, 60000)
