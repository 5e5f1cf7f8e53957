// Starts and awaits runs on the reference adapter the way flowcraft-semantics.md §9.2
// describes (it ships no client): seed the context row with blueprintId and
// blueprintVersion, produce one job per start node keyed by runId, then poll the
// status table until the run is `completed` or `failed`. One batched poll for all
// outstanding runs keeps the polling load on Cassandra small.
import { randomUUID } from 'node:crypto'
import cassandra from 'cassandra-driver'
import { analyzeBlueprint } from 'flowcraft'
import { Kafka, logLevel } from 'kafkajs'

export class ReferenceClient {
  constructor(settings, blueprints) {
    this.settings = settings
    this.blueprints = blueprints
    this.kafka = new Kafka({ clientId: `${settings.clientId}-client`, brokers: settings.brokers, logLevel: logLevel.WARN })
    this.producer = this.kafka.producer()
    this.cassandra = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter })
    this.pending = new Map() // runId -> { resolve, reject, deadline }
    this.startNodes = new Map(Object.values(blueprints).map((bp) => [bp.id, analyzeBlueprint(bp).startNodeIds]))
    const { keyspace, contextTableName, statusTableName } = settings
    this.seedCql = `INSERT INTO ${keyspace}.${contextTableName} (run_id, context_data) VALUES (?, ?)`
    this.pollCql = `SELECT run_id, status, status_data, updated_at FROM ${keyspace}.${statusTableName} WHERE run_id IN ?`
  }

  async start() {
    await Promise.all([this.producer.connect(), this.cassandra.connect()])
    this.polling = setInterval(() => this.poll(), this.settings.pollMs || 50)
  }

  // Resolves with { runId, status, context, reason, publishedAt } once the status row is final.
  async startRun(blueprintId, timeoutMs) {
    const blueprint = this.blueprints[blueprintId]
    const runId = `bench-${randomUUID()}`
    const seed = { blueprintId, blueprintVersion: (blueprint.metadata && blueprint.metadata.version) || null }
    await this.cassandra.execute(this.seedCql, [runId, JSON.stringify(seed)], { prepare: true })
    const finished = new Promise((resolve, reject) => this.pending.set(runId, { resolve, reject, deadline: Date.now() + timeoutMs }))
    await this.producer.send({
      topic: this.settings.topicName,
      messages: this.startNodes.get(blueprintId).map((nodeId) => ({ key: runId, value: JSON.stringify({ runId, blueprintId, nodeId }) })),
    })
    return finished
  }

  async poll() {
    if (this.busy || !this.pending.size) return
    this.busy = true
    try {
      const ids = [...this.pending.keys()]
      for (let i = 0; i < ids.length; i += 100) {
        const result = await this.cassandra.execute(this.pollCql, [ids.slice(i, i + 100)], { prepare: true })
        for (const row of result.rows) {
          if (row.status !== 'completed' && row.status !== 'failed') continue
          const waiter = this.pending.get(row.run_id)
          if (!waiter) continue
          this.pending.delete(row.run_id)
          const data = row.status_data ? JSON.parse(row.status_data) : {}
          waiter.resolve({
            runId: row.run_id,
            status: row.status,
            context: (data.payload && data.payload.context) || {},
            reason: data.reason,
            publishedAt: row.updated_at ? row.updated_at.getTime() : null,
          })
        }
      }
      const nowMs = Date.now()
      for (const [runId, waiter] of this.pending) {
        if (waiter.deadline < nowMs) {
          this.pending.delete(runId)
          waiter.reject(Object.assign(new Error(`run ${runId} not final after its timeout`), { code: 'ERR_WAIT_TIMEOUT' }))
        }
      }
    } catch (error) {
      console.error(`[reference client] poll failed: ${error.message}`)
    } finally {
      this.busy = false
    }
  }

  async stop() {
    clearInterval(this.polling)
    await this.producer.disconnect().catch(() => {})
    await this.cassandra.shutdown().catch(() => {})
  }
}
