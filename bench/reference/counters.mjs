// Operation counters of the stack, read before and after a phase to tell what a hop
// costs each contender: Cassandra's per-table read / write counts (its system_views
// virtual tables), Paxos (LWT) writes, and Redis's per-command call counts. These are
// server-wide: anything else using the stack meanwhile is counted too.
import cassandra from 'cassandra-driver'
import Redis from 'ioredis'

export async function openCounters({ contactPoints, localDataCenter, redisUrl }) {
  const cql = new cassandra.Client({ contactPoints, localDataCenter })
  await cql.connect()
  const redis = new Redis(redisUrl, { lazyConnect: true })
  await redis.connect()

  async function tableCounts(view, keyspace) {
    const result = await cql.execute(`SELECT keyspace_name, table_name, count FROM system_views.${view}`)
    let total = 0
    for (const row of result.rows) if (row.keyspace_name === keyspace) total += Number(row.count)
    return total
  }

  async function paxosWrites() {
    const result = await cql.execute('SELECT keyspace_name, table_name, count FROM system_views.local_write_latency')
    const row = result.rows.find((r) => r.keyspace_name === 'system' && r.table_name === 'paxos')
    return row ? Number(row.count) : 0
  }

  // Commands run inside Lua scripts count as commands too; scripts are counted apart.
  async function redisCalls() {
    const info = await redis.info('commandstats')
    const calls = { commands: 0, scripts: 0 }
    for (const match of info.matchAll(/^cmdstat_(\w+)[^:]*:calls=(\d+)/gm)) {
      if (match[1] === 'info') continue
      calls.commands += Number(match[2])
      if (match[1] === 'evalsha' || match[1] === 'eval') calls.scripts += Number(match[2])
    }
    return calls
  }

  return {
    async snapshot(keyspace) {
      const [reads, writes, lwt, redisTotals] = await Promise.all([
        tableCounts('coordinator_read_latency', keyspace),
        tableCounts('coordinator_write_latency', keyspace),
        paxosWrites(),
        redisCalls(),
      ])
      return { cassandraReads: reads, cassandraWrites: writes, lwtWrites: lwt, redisCommands: redisTotals.commands, redisScripts: redisTotals.scripts }
    },
    async close() {
      redis.disconnect()
      await cql.shutdown()
    },
  }
}
