// Contender: the raw floor (bench/raw-floor, Rust). Worker processes do per hop one
// Kafka produce -> consume, one Cassandra single-row write and one Redis op; a driver
// process starts runs on command and reports completions.
'use strict'
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { LineProcess, waitForSettledGroup } = require('../lib/processes')
const { stack, namesFor, importReference } = require('../lib/stack-config')
const { floorWorkloads, workloadById } = require('../lib/workloads')

const CRATE = path.join(__dirname, '..', 'raw-floor')
const REPO = path.join(__dirname, '..', '..')

// Built like the addon (`--profile fast --target <host>`, same target dir), so the
// dependencies the addon's build already compiled are reused.
function binaryPath() {
  const host = /host: (\S+)/.exec(execFileSync('rustc', ['-vV'], { encoding: 'utf8' }))[1]
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target')
  return { host, targetDir, binary: path.join(targetDir, host, 'fast', 'raw-floor') }
}

function newestSource() {
  const files = ['Cargo.toml', 'Cargo.lock', ...fs.readdirSync(path.join(CRATE, 'src')).map((f) => path.join('src', f))]
  return Math.max(...files.map((f) => fs.statSync(path.join(CRATE, f)).mtimeMs))
}

function ensureBuilt(log) {
  const { host, targetDir, binary } = binaryPath()
  if (fs.existsSync(binary) && fs.statSync(binary).mtimeMs >= newestSource()) return binary
  log(`building the raw floor (cargo build --profile fast, target dir ${path.relative(REPO, targetDir) || '.'})...`)
  const started = Date.now()
  const build = spawnSync('cargo', ['build', '--profile', 'fast', '--target', host, '--manifest-path', path.join(CRATE, 'Cargo.toml')], {
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (build.status !== 0) throw new Error('cargo build of bench/raw-floor failed')
  log(`raw floor built in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  return binary
}

// `transactional`: the 'floor-txn' variant, whose workers commit successors and offsets
// in Kafka transactions per batch (the least the addon's exactly-once successors cost).
function create({ session, runTimeoutMs, inFlightFor, log, transactional = false }) {
  let names, workers, driver, binary
  const waiting = new Map() // runId -> { resolve, workloadId, timer }
  let counter = 0

  return {
    name: transactional ? 'floor-txn' : 'floor',
    label: transactional ? 'raw floor + transactions' : 'raw floor (Rust)',
    keyspace: 'bench_floor',
    inFlight: (workload, count) => inFlightFor(workload) * count,

    async setUp(count) {
      binary = ensureBuilt(log)
      names = namesFor(transactional ? 'floor-txn' : 'floor', session, count)
      this.tagPrefix = names.tagPrefix
      const admin = await importReference('admin.mjs')
      await admin.createTopics(stack.brokers, [
        { topic: names.topicName, partitions: stack.partitions },
        { topic: names.doneTopic, partitions: 1 },
      ])
      const settingsFor = (clientId) => {
        const file = path.join(os.tmpdir(), `${clientId}.json`)
        fs.writeFileSync(
          file,
          JSON.stringify({
            brokers: stack.brokers,
            clientId,
            topic: names.topicName,
            doneTopic: names.doneTopic,
            groupId: names.groupId,
            contactPoints: stack.contactPoints,
            localDataCenter: stack.localDataCenter,
            keyspace: 'bench_floor',
            redisUrl: stack.redisUrl,
            concurrency: stack.concurrency,
            transactional,
            workloads: floorWorkloads(),
          }),
        )
        return file
      }
      driver = new LineProcess('floor driver', binary, ['drive', settingsFor(`${names.clientId}-driver`)])
      driver.onLine((line) => {
        const [word, runId, startUs, doneUs, n] = line.split(' ')
        if (word !== 'done' || !waiting.has(runId)) return
        const { resolve, workloadId, timer } = waiting.get(runId)
        waiting.delete(runId)
        clearTimeout(timer)
        const expected = workloadById(workloadId).terminalN
        const ok = Number(n) === expected
        const [startedAt, completedAt] = [Number(startUs) / 1000, Number(doneUs) / 1000]
        resolve({ runId, startedAt, finished: true, ok, reason: ok ? null : `terminal n = ${n}, expected ${expected}`, completedAt, publishedAt: completedAt })
      })
      await driver.waitFor((line) => line === 'READY', 60000, 'READY')
      workers = Array.from({ length: count }, (_, i) => new LineProcess(`floor worker ${i + 1}`, binary, ['worker', settingsFor(`${names.clientId}-${i + 1}`)]))
      await waitForSettledGroup(workers, stack.partitions)
      return workers.map((w) => w.pid)
    },

    startRun(workloadId, tag) {
      // Unique across sessions and worker counts: join counters in Redis are keyed by runId.
      const runId = `${names.clientId}-${++counter}`
      const startedAt = performance.timeOrigin + performance.now()
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(runId)
          resolve({ runId, startedAt, finished: false, ok: false, reason: 'not finished within the timeout' })
        }, runTimeoutMs)
        waiting.set(runId, { resolve, workloadId, timer })
        driver.send(`start ${tag} ${workloadId} ${runId}`)
      })
    },

    // Hop latencies live in the workers, per tag: ask each for its share.
    async finishPhase(tag, outcomes) {
      const shares = await Promise.all(
        workers.map((w) => {
          const answer = w.waitFor((line) => line.startsWith(`hops ${tag} `) && line.slice(`hops ${tag} `.length), 30000, `hops of ${tag}`)
          w.send(`dump ${tag}`)
          return answer
        }),
      )
      const hops = shares.flatMap((json) => JSON.parse(json).map(([t, latency]) => [t / 1000, latency / 1000]))
      // Start nodes are not hops; they ran about when their run was started.
      const nodeTimes = [...hops.map(([t]) => t), ...outcomes.map((o) => o.startedAt)]
      return { hops, nodeTimes }
    },

    // What starts and awaits runs: the harness process (and the floor's driver).
    clientPids: () => [driver.pid, process.pid],

    // For diagnostics when runs go missing.
    processes: () => [...(workers || []), driver].filter(Boolean),

    async tearDown() {
      await Promise.all([...(workers || []), driver].filter(Boolean).map((p) => p.stop({ signal: null, graceMs: 5000 })))
      return [names.topicName, names.doneTopic]
    },
  }
}

module.exports = { create, ensureBuilt }
