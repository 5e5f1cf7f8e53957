// The examples that need no service run as they are, and every README snippet marked
// `<!-- example: examples/<file> -->` is that file's `// readme:start` ... `// readme:end`
// region, word for word. (The stack examples run in __test__/stack/examples.spec.ts.)
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as ts from 'typescript'

const ROOT = path.join(__dirname, '../..')
const EXAMPLES = path.join(ROOT, 'examples')

/** The marked region of an example, dedented as the README shows it. */
function readmeRegion(file: string): string {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n')
  const start = lines.findIndex((line) => line.trim() === '// readme:start')
  const end = lines.findIndex((line) => line.trim() === '// readme:end')
  if (start < 0 || end < start) throw new Error(`${file} has no // readme:start ... // readme:end region`)
  const region = lines.slice(start + 1, end)
  const indent = Math.min(...region.filter((line) => line.trim()).map((line) => line.length - line.trimStart().length))
  return region.map((line) => line.slice(indent)).join('\n')
}

/** README code blocks that say which example they come from. */
function readmeSnippets(): Array<{ file: string; code: string }> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const marked = /<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g
  return [...readme.matchAll(marked)].map((match) => ({ file: match[1], code: match[2] }))
}

test('every marked README snippet is its example region, word for word', () => {
  const snippets = readmeSnippets()
  expect(snippets.map((s) => s.file).sort()).toEqual(['examples/in-memory.js', 'examples/stack.js'])
  for (const { file, code } of snippets) {
    expect({ file, code }).toEqual({ file, code: readmeRegion(file) })
  }
})

test('examples/in-memory.js runs the order workflow with no service', () => {
  const run = spawnSync(process.execPath, [path.join(EXAMPLES, 'in-memory.js')], { encoding: 'utf8', timeout: 30000 })
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' })
  expect(run.stdout.split('\n')).toEqual([
    'retrying charge after attempt 1',
    'retrying charge after attempt 1',
    'completed: charged {"charged":60}, review "not needed"',
    'completed: charged {"charged":2000}, review "queued for review"',
    '',
  ])
})

test('examples/typescript.ts (type-checked by tsc --strict in npm test) runs', () => {
  const source = fs.readFileSync(path.join(EXAMPLES, 'typescript.ts'), 'utf8')
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  })
  // Run from examples/: the package resolves itself by name (package.json `exports`).
  const run = spawnSync(process.execPath, ['-e', outputText], { cwd: EXAMPLES, encoding: 'utf8', timeout: 30000 })
  expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
    status: 0,
    stdout: 'completed: format: 11.75 EUR, 2 lines\n',
    stderr: '',
  })
})
