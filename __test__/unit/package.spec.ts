// What `npm run package` writes into dist/ installs and runs on a machine without Rust or a C
// compiler, from `require` and from `import`; without the binary package it builds from source.
// scripts/test.sh runs `npm run package` before jest.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const ROOT = path.join(__dirname, '../..')
const DIST = path.join(ROOT, 'dist')
const VERSION: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version
const MAIN_TARBALL = path.join(DIST, `flowcraft-kafka-native-${VERSION}.tgz`)
const BINARY_PACKAGE = 'flowcraft-kafka-native-linux-x64-gnu'
const BINARY_TARBALL = path.join(DIST, `${BINARY_PACKAGE}-${VERSION}.tgz`)

const WORKFLOW = `
  const blueprint = {
    id: 'greet',
    nodes: [{ id: 'hello', uses: 'hello' }, { id: 'shout', uses: 'shout' }],
    edges: [{ source: 'hello', target: 'shout' }],
  }
  const registry = {
    hello: async (ctx) => ({ output: 'hello ' + (await ctx.context.get('name')) }),
    shout: async (ctx) => ({ output: ctx.input.toUpperCase() }),
  }
  const adapter = new InMemoryAdapter({ runtimeOptions: { blueprints: { greet: blueprint }, registry }, logLevel: 'silent' })
  adapter.start()
    .then(() => adapter.run('greet', { name: 'ada' }))
    .then(async (result) => { console.log(result.status, JSON.stringify(result.context['_outputs.shout'])); await adapter.stop() })
`

/** A scratch project whose PATH holds only node, npm and sh (npm runs scripts with it): no cargo, rustc, cc or make. */
function scratchProject(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowcraft-package-'))
  const bin = path.join(dir, 'bin')
  fs.mkdirSync(bin)
  fs.symlinkSync(process.execPath, path.join(bin, 'node'))
  const npmCli = fs.realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim())
  fs.symlinkSync(npmCli, path.join(bin, 'npm'))
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'))
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  fs.writeFileSync(path.join(dir, 'consumer.cjs'), `const { InMemoryAdapter } = require('flowcraft-kafka-native')\n${WORKFLOW}`)
  fs.writeFileSync(path.join(dir, 'consumer.mjs'), `import { InMemoryAdapter } from 'flowcraft-kafka-native'\n${WORKFLOW}`)
  const env: NodeJS.ProcessEnv = {
    PATH: bin,
    HOME: dir,
    npm_config_cache: path.join(dir, 'npm-cache'),
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  }
  return { dir, env }
}

function run(command: string, args: string[], dir: string, env: NodeJS.ProcessEnv, timeout = 120000): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd: dir, env, encoding: 'utf8', timeout })
}

function explain(result: SpawnSyncReturns<string>): string {
  return `exit ${result.status}${result.error ? ` (${result.error.message})` : ''}\n${result.stdout}\n${result.stderr}`
}

beforeAll(() => {
  for (const tarball of [MAIN_TARBALL, BINARY_TARBALL]) {
    if (!fs.existsSync(tarball)) throw new Error(`${tarball} is missing: run \`npm run package\` first`)
  }
})

test('the tarballs install with no cargo, rustc or C compiler on PATH; require and import both run a workflow', () => {
  const { dir, env } = scratchProject()
  for (const tool of ['cargo', 'rustc', 'cc', 'gcc', 'make']) {
    expect(run(path.join(dir, 'bin', 'sh'), ['-c', `command -v ${tool}`], dir, env).status).not.toBe(0)
  }
  const install = run(path.join(dir, 'bin', 'npm'), ['install', '--offline', MAIN_TARBALL, BINARY_TARBALL], dir, env)
  expect({ status: install.status, output: explain(install) }).toMatchObject({ status: 0 })

  const installed = path.join(dir, 'node_modules', 'flowcraft-kafka-native')
  // The prebuilt binary came from its own package; nothing was built in the main one.
  expect(fs.existsSync(path.join(dir, 'node_modules', BINARY_PACKAGE, `flowcraft-kafka-native.linux-x64-gnu.node`))).toBe(true)
  expect(fs.readdirSync(installed).filter((name) => name.endsWith('.node') || name === 'target')).toEqual([])
  // Only what a user needs: no tests, benchmarks, stack scripts or development manifests.
  for (const absent of ['__test__', 'bench', 'stack', 'examples', 'docs', 'npm', 'node_modules', 'jest.config.js']) {
    expect(fs.existsSync(path.join(installed, absent))).toBe(false)
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'))
  expect(manifest.devDependencies).toBeUndefined()
  expect(manifest.optionalDependencies).toEqual({ [BINARY_PACKAGE]: VERSION })

  for (const entry of ['consumer.cjs', 'consumer.mjs']) {
    const consumer = run(path.join(dir, 'bin', 'node'), [entry], dir, env, 30000)
    expect({ entry, status: consumer.status, stdout: consumer.stdout, stderr: consumer.stderr }).toEqual({
      entry,
      status: 0,
      stdout: 'completed "HELLO ADA"\n',
      stderr: '',
    })
  }
  fs.rmSync(dir, { recursive: true, force: true })
}, 180000)

test('without the binary package, the install builds the addon from the shipped sources', () => {
  const { dir, env } = scratchProject()
  // The normal PATH and HOME (cargo, rustup's toolchains and the crates cache) this time; the
  // checkout's target directory keeps the dependencies compiled by `npm run package`, so only
  // this crate is rebuilt.
  const buildEnv = { ...env, PATH: `${env.PATH}:${process.env.PATH}`, HOME: process.env.HOME, CARGO_TARGET_DIR: path.join(ROOT, 'target') }
  const install = run(path.join(dir, 'bin', 'npm'), ['install', '--offline', '--omit=optional', '--foreground-scripts', MAIN_TARBALL], dir, buildEnv, 1200000)
  expect({ status: install.status, output: explain(install) }).toMatchObject({ status: 0 })
  expect(explain(install)).toMatch(/no prebuilt binary for linux-x64-gnu; building from source/)
  const installed = path.join(dir, 'node_modules', 'flowcraft-kafka-native')
  expect(fs.existsSync(path.join(dir, 'node_modules', BINARY_PACKAGE))).toBe(false)
  expect(fs.existsSync(path.join(installed, 'flowcraft-kafka-native.linux-x64-gnu.node'))).toBe(true)

  const consumer = run(path.join(dir, 'bin', 'node'), ['consumer.cjs'], dir, env, 30000)
  expect({ status: consumer.status, stdout: consumer.stdout, stderr: consumer.stderr }).toEqual({
    status: 0,
    stdout: 'completed "HELLO ADA"\n',
    stderr: '',
  })
  fs.rmSync(dir, { recursive: true, force: true })
}, 1300000)

test('without the binary package and without Rust, the install fails saying what to install', () => {
  const { dir, env } = scratchProject()
  const install = run(path.join(dir, 'bin', 'npm'), ['install', '--offline', '--omit=optional', MAIN_TARBALL], dir, env)
  expect(install.status).not.toBe(0)
  expect(install.stderr).toMatch(/no prebuilt binary for linux-x64-gnu is installed .* needs Rust \(cargo, rustc >= 1\.88\) and a C toolchain/)
  fs.rmSync(dir, { recursive: true, force: true })
})
