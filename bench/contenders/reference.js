// Contender: @flowcraft/kafka-adapter from npm (installed in bench/reference). Worker
// processes run bench/reference/worker.mjs; the harness process seeds and starts runs
// and polls the status table (bench/reference/client.mjs).
'use strict'
const path = require('node:path')
const { LineProcess, waitForSettledGroup } = require('../lib/processes')
const { stack, namesFor, importReference, REFERENCE_DIR } = require('../lib/stack-config')
const { blueprints, examineRun, now } = require('../lib/workloads')

const TABLES = { keyspace: 'bench_reference', contextTableName: 'flowcraft_contexts', statusTableName: 'flowcraft_statuses' }

function create({ session, runTimeoutMs, inFlightPerWorker }) {
  let names, workers, client, admin

  return {
    name: 'reference',
    label: '@flowcraft/kafka-adapter',
    // It handles one job at a time per worker: a few runs per worker keep it busy.
    keyspace: 'bench_reference',
    inFlight: (workload, count) => inFlightPerWorker * count,

    async setUp(count) {
      names = namesFor('reference', session, count)
      this.tagPrefix = names.tagPrefix
      admin = await importReference('admin.mjs')
      const settings = {
        ...TABLES,
        brokers: stack.brokers,
        contactPoints: stack.contactPoints,
        localDataCenter: stack.localDataCenter,
        redisUrl: stack.redisUrl,
        topicName: names.topicName,
        groupId: names.groupId,
        clientId: names.clientId,
      }
      await admin.ensureReferenceSchema(settings)
      await admin.createTopics(stack.brokers, [{ topic: names.topicName, partitions: stack.partitions }])
      await admin.commitOffsetsAtStart(stack.brokers, names.groupId, names.topicName, stack.partitions)
      workers = Array.from({ length: count }, (_, i) => {
        const env = { BENCH_SETTINGS: JSON.stringify({ ...settings, clientId: `${names.clientId}-${i + 1}` }) }
        return new LineProcess(`reference worker ${i + 1}`, process.execPath, [path.join(REFERENCE_DIR, 'worker.mjs')], { env })
      })
      await waitForSettledGroup(workers, stack.partitions)
      const { ReferenceClient } = await importReference('client.mjs')
      client = new ReferenceClient(settings, blueprints)
      await client.start()
      return workers.map((w) => w.pid)
    },

    async startRun(workloadId) {
      const startedAt = now()
      try {
        const result = await client.startRun(workloadId, runTimeoutMs)
        const base = { runId: result.runId, startedAt, finished: true, publishedAt: result.publishedAt }
        if (result.status !== 'completed') return { ...base, ok: false, completedAt: now(), reason: `${result.status}: ${result.reason}` }
        const check = examineRun(workloadId, result.context)
        return { ...base, ...check, completedAt: check.terminalEnd || now() }
      } catch (error) {
        const reason = error.code === 'ERR_WAIT_TIMEOUT' ? 'not finished within the timeout' : error.message
        return { startedAt, finished: false, ok: false, reason }
      }
    },

    async finishPhase() {
      return {}
    },

    // What starts and awaits runs: the harness process (and the floor's driver).
    clientPids: () => [process.pid],

    // For diagnostics when runs go missing.
    processes: () => workers || [],

    async tearDown() {
      if (client) await client.stop()
      await Promise.all((workers || []).map((w) => w.stop()))
      return [names.topicName]
    },
  }
}

module.exports = { create }
