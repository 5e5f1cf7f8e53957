// Traces with OpenTelemetry: a run started inside a span continues its trace, and each
// node makes a span with the ids `ctx.trace` gives it, so the spans form the workflow's
// graph. In memory here; the same code runs on KafkaAdapter, where the trace crosses
// processes in each job's `traceparent` header. Run with `node examples/tracing.js`.
'use strict'
const { context, defaultTextMapSetter, ROOT_CONTEXT, trace, TraceFlags } = require('@opentelemetry/api')
const { W3CTraceContextPropagator } = require('@opentelemetry/core')
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base')
const { InMemoryAdapter } = require('..')

// The SDK picks span ids through its IdGenerator: hand it the node's id once, so the
// spans of successors (made on other hops) name it as their parent.
let nextSpanId
const randomHex = (bytes) => Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join('')
const idGenerator = {
  generateTraceId: () => randomHex(16),
  generateSpanId: () => {
    const id = nextSpanId ?? randomHex(8)
    nextSpanId = undefined
    return id
  },
}
// A real deployment exports to a collector (OTLP); this one keeps spans to print them.
const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ idGenerator, spanProcessors: [new SimpleSpanProcessor(exporter)] })
const tracer = provider.getTracer('orders')

/** Wraps a node body in a span under the trace the addon carries. */
function withSpan(body) {
  return async (ctx) => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: ctx.trace.traceId,
      spanId: ctx.trace.parentSpanId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    })
    nextSpanId = ctx.trace.spanId
    const span = tracer.startSpan(ctx.dependencies.nodeId, {}, parent)
    try {
      return await body(ctx)
    } finally {
      span.end()
    }
  }
}

const order = {
  id: 'order',
  nodes: [
    { id: 'receive', uses: 'step' },
    { id: 'reserve-stock', uses: 'step' },
    { id: 'charge', uses: 'step' },
    { id: 'ship', uses: 'step' },
  ],
  edges: [
    { source: 'receive', target: 'reserve-stock' },
    { source: 'receive', target: 'charge' },
    { source: 'reserve-stock', target: 'ship' },
    { source: 'charge', target: 'ship' },
  ],
}
const registry = { step: withSpan(async (ctx) => ({ output: ctx.dependencies.nodeId })) }

async function main() {
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: { order }, registry } })
  await adapter.start()
  try {
    // The caller's span, e.g. the HTTP request that places the order.
    const request = tracer.startSpan('POST /orders')
    const carrier = {}
    new W3CTraceContextPropagator().inject(trace.setSpan(context.active(), request), carrier, defaultTextMapSetter)
    const runId = await adapter.startRun('order', {}, { traceparent: carrier.traceparent })
    const result = await adapter.waitForRun(runId)
    request.end()
    console.log(`run ${result.status} in trace ${request.spanContext().traceId}`)
  } finally {
    await adapter.stop()
  }
  const spans = exporter.getFinishedSpans()
  const children = (parentId) => spans.filter((s) => s.parentSpanContext?.spanId === parentId)
  const print = (span, depth) => {
    console.log(`${'  '.repeat(depth)}${span.name}`)
    for (const child of children(span.spanContext().spanId)) print(child, depth + 1)
  }
  for (const root of spans.filter((s) => !s.parentSpanContext)) print(root, 0)
}

main().catch((error) => {
  console.error(`tracing example failed: [${error.code}] ${error.message}`)
  process.exit(1)
})
