// The crash test (bench/crash/run.js), small: 50 runs of a 10-node DAG on two worker
// processes, one of them killed with SIGKILL every ~3 s (at least once while runs are
// being started) and restarted, on the real stack.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

/** The figures bench/crash/run.js writes with --json (the ones asserted here). */
interface CrashFigures {
  runs: number
  kills: number
  completed: number
  notCompleted: string[]
  duplicateRecordedOutputs: number
  duplicateSuccessorJobs: number
  bodiesRunMoreThanOnce: number
  lostContextKeys: number
  drainSeconds: number
}

const RUNS = 50
/** Bodies that may run again per kill: the workflow's fan-out width (see the assertion). */
const RERUNS_PER_KILL = 4

function runCrashTest(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, '../../bench/crash/run.js'), ...args], {
      env: { ...process.env, CRASH_TEST_QUIET: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the crash test did not finish within ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

test(`crash test: ${RUNS} runs, a worker SIGKILLed every ~3 s: every run completes, nothing duplicated or lost`, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowcraft-crash-'))
  const json = path.join(dir, 'figures.json')
  try {
    const { code, output } = await runCrashTest(
      [
        ...['--runs', `${RUNS}`, '--rate', '10', '--workers', '2', '--kill-every-ms', '3000', '--min-kills', '1'],
        ...['--reruns-per-kill', `${RERUNS_PER_KILL}`, '--json', json],
      ],
      100000,
    )
    if (!fs.existsSync(json)) throw new Error(`the crash test wrote no figures (exit code ${code}):\n${output}`)
    const figures = JSON.parse(fs.readFileSync(json, 'utf8')) as CrashFigures
    // At least one worker died mid-load, or the test proves nothing.
    expect(figures.kills).toBeGreaterThanOrEqual(1)
    expect(figures.notCompleted).toEqual([])
    expect(figures.completed).toBe(RUNS)
    expect(figures.duplicateRecordedOutputs).toBe(0)
    expect(figures.duplicateSuccessorJobs).toBe(0)
    // A kill (and the two rebalances it causes) runs again every body then in flight: with
    // 1-3 kills, one that catches the four branches of a run decides the figure, so the
    // small run allows the fan-out's width per kill (the N=1000 run keeps 1 per kill).
    expect(figures.bodiesRunMoreThanOnce).toBeLessThanOrEqual(figures.kills * RERUNS_PER_KILL)
    expect(figures.lostContextKeys).toBe(0)
    expect(code).toBe(0)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}, 120000)
