// Contender: this addon's KafkaAdapter. Worker processes run bench/contenders/addon-worker.js;
// the harness process is the client (`worker: false`): startRun, then waitForRun, which
// polls the run's status row. The 'addon-push' variant learns of each finished run from
// the workers' `run:finish` events instead and calls waitForRun only then (one read):
// what a client would see with pushed results, without the polling load.
'use strict'
const { randomUUID } = require('node:crypto')
const path = require('node:path')
const { KafkaAdapter, RedisCoordinationStore } = require('../..')
const { LineProcess, waitForSettledGroup } = require('../lib/processes')
const { stack, namesFor, addonAdapterOptions } = require('../lib/stack-config')
const { blueprints, registry, examineRun, now } = require('../lib/workloads')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref())

function create({ session, runTimeoutMs, inFlightFor, extraOptions = {}, push = false, variant = push ? 'addon-push' : 'addon' }) {
  let names, workers, client
  const finishes = new Map() // push: runId -> resolve

  const adapterOptions = (clientId) => addonAdapterOptions(names, clientId)

  return {
    name: variant,
    label: { addon: 'this addon', 'addon-txn': 'this addon, transactional', 'addon-push': 'this addon, pushed completion' }[variant],
    keyspace: 'bench_addon',
    inFlight: (workload, count) => inFlightFor(workload) * count,

    async setUp(count) {
      names = namesFor(variant, session, count)
      this.tagPrefix = names.tagPrefix
      workers = Array.from({ length: count }, (_, i) => {
        const settings = { ...adapterOptions(`${names.clientId}-${i + 1}`), ...extraOptions, redisUrl: stack.redisUrl, reportFinish: push }
        const worker = new LineProcess(`addon worker ${i + 1}`, process.execPath, [path.join(__dirname, 'addon-worker.js')], {
          env: { BENCH_SETTINGS: JSON.stringify(settings) },
        })
        worker.onLine((line) => {
          const resolve = line.startsWith('FINISH ') && finishes.get(line.slice(7))
          if (resolve) resolve()
        })
        return worker
      })
      await waitForSettledGroup(workers, stack.partitions)
      client = new KafkaAdapter({
        ...adapterOptions(`${names.clientId}-client`),
        worker: false,
        runtimeOptions: { blueprints, registry },
        coordinationStore: new RedisCoordinationStore({ url: stack.redisUrl }),
      })
      await client.start()
      return workers.map((w) => w.pid)
    },

    async startRun(workloadId) {
      const startedAt = now()
      let runId
      try {
        if (push) {
          runId = randomUUID()
          const finished = new Promise((resolve) => finishes.set(runId, resolve))
          await client.startRun(workloadId, {}, { runId })
          const timedOut = await Promise.race([finished.then(() => false), sleep(runTimeoutMs).then(() => true)])
          finishes.delete(runId)
          if (timedOut) throw Object.assign(new Error('no run:finish'), { code: 'ERR_WAIT_TIMEOUT' })
        } else {
          runId = await client.startRun(workloadId, {})
        }
        const result = await client.waitForRun(runId, { timeoutMs: runTimeoutMs })
        if (result.status !== 'completed') {
          return { runId, startedAt, finished: true, ok: false, completedAt: now(), reason: `${result.status}: ${result.reason}` }
        }
        const check = examineRun(workloadId, result.context)
        return { runId, startedAt, finished: true, ...check, completedAt: check.terminalEnd || now() }
      } catch (error) {
        const reason = error.code === 'ERR_WAIT_TIMEOUT' ? 'not finished within the timeout' : `${error.code}: ${error.message}`
        return { runId, startedAt, finished: false, ok: false, reason }
      }
    },

    // End-to-end latency needs the time the run's result was published: read it
    // after the phase (not while measuring), for the fixed-rate phase only.
    async finishPhase(tag, outcomes) {
      if (!tag.endsWith('-rate')) return {}
      const queue = outcomes.filter((o) => o.finished && o.ok)
      const lane = async () => {
        for (let o = queue.pop(); o; o = queue.pop()) {
          const published = await client.publishedResults(o.runId)
          const completed = published.find((p) => p.status === 'completed')
          if (completed) o.publishedAt = completed.publishedAt
        }
      }
      await Promise.all(Array.from({ length: 16 }, lane))
      return {}
    },

    // What starts and awaits runs: the harness process (and the floor's driver).
    clientPids: () => [process.pid],

    // For diagnostics when runs go missing.
    processes: () => workers || [],

    async tearDown() {
      if (client) await client.stop().catch(() => {})
      await Promise.all((workers || []).map((w) => w.stop()))
      return [names.topicName, names.errorTopic]
    },
  }
}

module.exports = { create }
