// A typed workflow in memory: the runs' context typed once (InvoiceContext), node functions
// typed with Flowcraft's NodeContext<TContext, TDependencies, TInput>, a class node with
// Flowcraft's BaseNode shape, and the run's result read back typed. Checked by `tsc --strict`
// (`npm run typecheck`) and run by __test__/unit/examples.spec.ts.
import { InMemoryAdapter, type NodeContext, type NodeInstance, type NodeResult, type WorkflowBlueprint } from 'flowcraft-kafka-native'

interface Invoice {
  customer: string
  lines: Array<{ item: string; cents: number }>
}

/** What the runs of this workflow keep in their context. */
interface InvoiceContext {
  invoice: Invoice
  lineCount: number
}

type InvoiceNode<TInput> = NodeContext<InvoiceContext, Record<string, unknown>, TInput>

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

async function loadInvoice(ctx: InvoiceNode<undefined>): Promise<NodeResult<Invoice>> {
  const invoice = await ctx.context.get('invoice') // Invoice | undefined
  if (!invoice) throw new Error('the run was started without an invoice')
  return { output: invoice }
}

async function totalInvoice(ctx: InvoiceNode<Invoice>): Promise<NodeResult<number>> {
  const lines = ctx.input?.lines ?? []
  await ctx.context.set('lineCount', lines.length)
  return { output: lines.reduce((sum, line) => sum + line.cents, 0) }
}

/** prep reads, exec computes (the only phase retried), post decides the output. */
class FormatInvoice implements NodeInstance {
  constructor(
    private readonly params: Record<string, unknown>,
    private readonly nodeId: string,
  ) {}

  async prep(ctx: InvoiceNode<number>): Promise<number> {
    return ctx.input ?? 0
  }

  async exec(cents: number): Promise<string> {
    return `${(cents / 100).toFixed(2)} ${String(this.params.currency)}`
  }

  async post(text: string): Promise<NodeResult<string>> {
    return { output: `${this.nodeId}: ${text}` }
  }
}

async function main(): Promise<void> {
  const adapter = new InMemoryAdapter<InvoiceContext>({
    runtimeOptions: {
      blueprints: [invoiceFlow],
      registry: { loadInvoice, totalInvoice, FormatInvoice },
    },
    logLevel: 'warn',
  })
  await adapter.start()
  const invoice: Invoice = { customer: 'ada', lines: [{ item: 'tea', cents: 450 }, { item: 'cake', cents: 725 }] }
  const result = await adapter.run('invoice', { invoice })
  const lineCount: number | undefined = result.context.lineCount
  console.log(`${result.status}: ${String(result.context['_outputs.format'])}, ${lineCount} lines`)
  await adapter.stop()
}

main().catch((error: { code?: string; message: string }) => {
  console.error(`typescript example failed: [${error.code}] ${error.message}`)
  process.exitCode = 1
})
