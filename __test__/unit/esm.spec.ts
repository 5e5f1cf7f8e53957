// The package loads as an ES module and as CommonJS, with the same exports.
import { execFileSync } from 'node:child_process'
import * as path from 'node:path'

const root = path.join(__dirname, '../..')

/** Runs `source` as an ES module from the package's own directory (so its name resolves). */
function esm(source: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', source], { cwd: root, encoding: 'utf8' })
}

test('import and require give the same exports', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cjs = Object.keys(require('../..')).filter((name) => !name.startsWith('__')).sort()
  const imported = JSON.parse(
    esm(`import * as m from 'flowcraft-kafka-native'; console.log(JSON.stringify(Object.keys(m).filter((n) => n !== 'default').sort()))`),
  )
  expect(imported).toEqual(cjs)
  expect(cjs).toContain('KafkaAdapter')
})

test('an ES module runs an in-memory workflow through the package name', () => {
  const out = esm(`
    import { InMemoryAdapter } from 'flowcraft-kafka-native'
    const flow = { id: 'hello', nodes: [{ id: 'greet', uses: 'greet' }], edges: [] }
    const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: { hello: flow }, registry: { greet: async () => ({ output: 'hi' }) } } })
    await adapter.start()
    const result = await adapter.waitForRun(await adapter.startRun('hello'))
    await adapter.stop()
    console.log(result.status, JSON.stringify(result.context['_outputs.greet']))
  `)
  expect(out.trim()).toBe('completed "hi"')
})
