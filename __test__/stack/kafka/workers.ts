// Spawning worker processes (worker-process.js) and reading what they report.
import { spawn, type ChildProcess } from 'node:child_process'
import * as path from 'node:path'

import { KafkaAdapter, type KafkaAdapterOptions } from '../../../index'
import { REDIS_URL } from '../services'

export interface WorkerHandle {
  child: ChildProcess
  output: string[]
  /** Everything the worker wrote to stderr so far. */
  stderr: () => string
  exited: Promise<number | null>
}

export interface WorkerExtras {
  /** Log lines to stdout as `LOG <json>` through a logger hook (instead of stderr). */
  logToStdout?: boolean
}

export async function spawnWorker(
  workflowModule: string,
  adapter: Partial<KafkaAdapterOptions>,
  extras: WorkerExtras = {},
): Promise<WorkerHandle> {
  const { coordinationStore: _store, runtimeOptions: _runtime, logger: _logger, ...serialisable } = adapter
  const child = spawn(process.execPath, [path.join(__dirname, 'worker-process.js')], {
    env: {
      ...process.env,
      FLOWCRAFT_TEST_WORKER: JSON.stringify({ workflowModule, adapter: serialisable, redisUrl: REDIS_URL, ...extras }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  let buffered = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    output.push(...lines)
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const deadline = Date.now() + 30000
  while (!output.includes('READY')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not start: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return { child, output, stderr: () => stderr, exited }
}

/** Waits until every worker owns at least one partition (the group has settled). */
export async function untilAllAssigned(workers: WorkerHandle[], timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const owns = (w: WorkerHandle) => {
    const last = [...w.output].reverse().find((line) => line.startsWith('ASSIGNED'))
    return last !== undefined && last.trim() !== 'ASSIGNED'
  }
  while (!workers.every(owns)) {
    if (Date.now() > deadline) throw new Error('the consumer group did not give every worker a partition')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Node executions reported by workers, keyed `<runId> <nodeId>`. */
export function executions(workers: WorkerHandle[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const worker of workers) {
    for (const line of worker.output) {
      if (!line.startsWith('EXEC ')) continue
      const [, runId, nodeId] = line.split(' ')
      const key = `${runId} ${nodeId}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
  }
  return counts
}

export async function stopWorkers(workers: WorkerHandle[]): Promise<void> {
  for (const worker of workers) worker.child.kill('SIGTERM')
  await Promise.all(workers.map((w) => w.exited))
}

/**
 * One worker process of `workflowFile` with every partition, and a client (`worker:
 * false`) in this process for `body`; both stopped after it, whatever it did.
 */
export async function withWorkerAndClient(
  workflowFile: string,
  options: KafkaAdapterOptions,
  body: (client: KafkaAdapter) => Promise<void>,
): Promise<void> {
  const workers = [await spawnWorker(workflowFile, options)]
  await untilAllAssigned(workers)
  const client = new KafkaAdapter({ ...options, worker: false })
  await client.start()
  try {
    await body(client)
  } finally {
    await client.stop()
    await stopWorkers(workers)
  }
}
