// `ctx.dependencies.logger`, as Flowcraft gives nodes one: the user's dependency, else the
// adapter's `logger`, else the adapter's own (stderr at `logLevel`).
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'

import { InMemoryAdapter } from '../../index'
import type { FlowcraftLogger, NodeContext } from '../../index'

const flow = { id: 'noisy', nodes: [{ id: 'charge', uses: 'charge' }], edges: [] }
const registry = {
  charge: async (ctx: NodeContext) => {
    ctx.dependencies.logger.info('charging', { amount: 3 })
    return { output: 'ok' }
  },
}

function keeping(lines: string[]): FlowcraftLogger {
  const keep = (level: string) => (message: string, context?: Record<string, unknown>) =>
    lines.push(`${level} ${message} ${JSON.stringify(context ?? {})}`)
  return { debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') }
}

async function runOnce(adapter: InMemoryAdapter): Promise<void> {
  await adapter.start()
  try {
    const result = await adapter.waitForRun(await adapter.startRun('noisy'))
    expect(result.status).toBe('completed')
  } finally {
    await adapter.stop()
  }
}

test("a node's logger is the adapter's logger when one is given", async () => {
  const lines: string[] = []
  await runOnce(new InMemoryAdapter({ runtimeOptions: { blueprints: { noisy: flow }, registry }, logger: keeping(lines) }))
  expect(lines).toContain('info charging {"amount":3}')
})

test('a logger in the dependencies wins over the adapter logger', async () => {
  const adapterLines: string[] = []
  const ownLines: string[] = []
  const runtimeOptions = { blueprints: { noisy: flow }, registry, dependencies: { logger: keeping(ownLines) } }
  await runOnce(new InMemoryAdapter({ runtimeOptions, logger: keeping(adapterLines) }))
  expect(ownLines).toEqual(['info charging {"amount":3}'])
  expect(adapterLines.filter((line) => line.includes('charging'))).toEqual([])
})

test('without a logger, a node logs through the adapter: stderr at logLevel', () => {
  const script = `
    const { InMemoryAdapter } = require(${JSON.stringify(path.join(__dirname, '../..'))})
    const flow = { id: 'noisy', nodes: [{ id: 'charge', uses: 'charge' }], edges: [] }
    const registry = {
      charge: async (ctx) => {
        ctx.dependencies.logger.info('charging', { amount: 3 })
        ctx.dependencies.logger.debug('below the level')
        return { output: 'ok' }
      },
    }
    const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: { noisy: flow }, registry }, logLevel: 'info' })
    adapter.start().then(async () => {
      await adapter.waitForRun(await adapter.startRun('noisy'))
      await adapter.stop()
    })
  `
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 })
  expect(run.status).toBe(0)
  expect(run.stderr).toContain('flowcraft info: charging {"amount":3}')
  expect(run.stderr).not.toContain('below the level')
}, 30000)
