// The public typings (index.d.ts, written by hand) use no `any`, declare every runtime
// export and nothing more. What they accept and refuse is checked by tsc over
// __test__/types/ (npm run typecheck).
import * as fs from 'node:fs'
import * as path from 'node:path'

const ROOT = path.join(__dirname, '../..')
const typings = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')

/** The declarations without comments and string literals ('any' is a join strategy). */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/'[^'\n]*'/g, "''")
}

test('index.d.ts has no any', () => {
  const lines = code(typings)
    .split('\n')
    .filter((line) => /\bany\b/.test(line))
  expect(lines).toEqual([])
})

test('index.d.ts declares each runtime export as a value, and no other value', () => {
  const declared = [...code(typings).matchAll(/^export declare (?:class|function|const) (\w+)/gm)].map((m) => m[1]).sort()
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exported = Object.keys(require('../..')).filter((name) => !name.startsWith('__')).sort()
  expect(declared).toEqual(exported)
})
