// The examples the README quotes must keep working.
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'

test('npm run demo: two worker processes on the stack complete every order', () => {
  const demo = spawnSync(process.execPath, [path.join(__dirname, '../../examples/demo.js')], { encoding: 'utf8', timeout: 90000 })
  expect(demo.stderr).toBe('')
  expect(demo.status).toBe(0)
  expect(demo.stdout).toMatch(/\[worker-1\] partitions: \d/)
  expect(demo.stdout).toMatch(/\[worker-2\] partitions: \d/)
  // The workers' logger hook prints the retry the charge node makes for large orders.
  expect(demo.stdout).toMatch(/\[worker-\d\] warn: Node 'charge' attempt 1 of 3 failed, retrying/)
  expect(demo.stdout).toMatch(/3 x 20: completed, charged \{"charged":60\}, review: "not needed"/)
  expect(demo.stdout).toMatch(/40 x 50: completed, charged \{"charged":2000\}, review: "queued for review"/)
  expect(demo.stdout).toMatch(/\[worker-1\] stopped/)
  expect(demo.stdout).toMatch(/\[worker-2\] stopped/)
})

test('examples/tracing.js: the spans of a run form its graph under the caller span', () => {
  const run = spawnSync(process.execPath, [path.join(__dirname, '../../examples/tracing.js')], { encoding: 'utf8', timeout: 30000 })
  expect(run.stderr).toBe('')
  expect(run.status).toBe(0)
  const lines = run.stdout.trimEnd().split('\n')
  expect(lines[0]).toMatch(/^run completed in trace [0-9a-f]{32}$/)
  expect(lines[1]).toBe('POST /orders')
  expect(lines[2]).toBe('  receive')
  // Both branches under `receive`; the join once, under whichever branch completed it.
  expect(lines.filter((line) => line === '    charge' || line === '    reserve-stock')).toHaveLength(2)
  expect(lines.filter((line) => line === '      ship')).toHaveLength(1)
  expect(lines).toHaveLength(6)
})

test('examples/stack.js: one process works a run on the stack', () => {
  const run = spawnSync(process.execPath, [path.join(__dirname, '../../examples/stack.js')], { encoding: 'utf8', timeout: 60000 })
  expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
    status: 0,
    stdout: 'completed: charged {"charged":2000}\n',
    stderr: '',
  })
})
