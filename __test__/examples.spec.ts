// The examples the README quotes must keep working.
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'

test('npm run demo: checks the stack and completes both orders', () => {
  const demo = spawnSync(process.execPath, [path.join(__dirname, '../examples/demo.js')], { encoding: 'utf8', timeout: 60000 })
  expect(demo.stderr).toBe('')
  expect(demo.status).toBe(0)
  expect(demo.stdout).toMatch(/Cassandra 5\.0/)
  expect(demo.stdout).toMatch(/retrying charge after attempt 1/)
  expect(demo.stdout).toMatch(/completed: charged \{"charged":60\}, review: "not needed"/)
  expect(demo.stdout).toMatch(/completed: charged \{"charged":2000\}, review: "queued for review"/)
})
