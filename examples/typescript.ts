// A typed workflow in memory: node functions typed with NodeContext, a class node with
// Flowcraft's BaseNode shape, and the run's result read back. Checked by `tsc --strict`
// (`npm run typecheck`) and run by __test__/unit/examples.spec.ts.
import { InMemoryAdapter, type NodeContext, type NodeResult, type WorkflowBlueprint } from 'flowcraft-kafka-native'

interface Invoice {
  customer: string
  lines: Array<{ item: string; cents: number }>
}

const invoiceFlow: WorkflowBlueprint = {
  id: 'invoice',
  nodes: [
    { id: 'load', uses: 'loadInvoice' },
    { id: 'total', uses: 'totalInvoice', config: { maxRetries: 2 } },
    { id: 'format', uses: 'FormatInvoice', params: { currency: 'EUR' } },
  ],
  edges: [
    { source: 'load', target: 'total' },
    { source: 'total', target: 'format' },
  ],
}

async function loadInvoice(ctx: NodeContext): Promise<NodeResult<Invoice>> {
  const invoice = (await ctx.context.get('invoice')) as Invoice
  return { output: invoice }
}

async function totalInvoice(ctx: NodeContext<Invoice>): Promise<NodeResult<number>> {
  const cents = ctx.input.lines.reduce((sum, line) => sum + line.cents, 0)
  await ctx.context.set('lineCount', ctx.input.lines.length)
  return { output: cents }
}

/** prep reads, exec computes (the only phase retried), post decides the output. */
class FormatInvoice {
  constructor(
    private readonly params: Record<string, unknown>,
    private readonly nodeId: string,
  ) {}

  async prep(ctx: NodeContext<number>): Promise<number> {
    return ctx.input
  }

  async exec(cents: number): Promise<string> {
    return `${(cents / 100).toFixed(2)} ${String(this.params.currency)}`
  }

  async post(text: string): Promise<NodeResult<string>> {
    return { output: `${this.nodeId}: ${text}` }
  }
}

async function main(): Promise<void> {
  const adapter = new InMemoryAdapter({
    runtimeOptions: {
      blueprints: [invoiceFlow],
      registry: { loadInvoice, totalInvoice, FormatInvoice },
    },
    logLevel: 'warn',
  })
  await adapter.start()
  const invoice: Invoice = { customer: 'ada', lines: [{ item: 'tea', cents: 450 }, { item: 'cake', cents: 725 }] }
  const result = await adapter.run('invoice', { invoice })
  console.log(`${result.status}: ${String(result.context['_outputs.format'])}, ${String(result.context.lineCount)} lines`)
  await adapter.stop()
}

main().catch((error: { code?: string; message: string }) => {
  console.error(`typescript example failed: [${error.code}] ${error.message}`)
  process.exitCode = 1
})
