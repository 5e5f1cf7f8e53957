// The quick-start demo: checks that the addon reaches the local stack.
// Run with `npm run demo` after `bash stack/stack.sh up`.
'use strict'
const { checkConnectivity } = require('..')

async function main() {
  const report = await checkConnectivity({
    kafka: { brokers: [process.env.FLOWCRAFT_KAFKA_BROKERS || '127.0.0.1:9092'] },
    cassandra: { contactPoints: [process.env.FLOWCRAFT_CASSANDRA_CONTACT_POINTS || '127.0.0.1:9042'] },
    redis: { url: process.env.FLOWCRAFT_REDIS_URL || 'redis://127.0.0.1:6379' },
  })
  console.log(`Kafka     ${report.kafka.brokerCount} broker(s), round trip on '${report.kafka.topic}' in ${report.kafka.roundTripMs.toFixed(1)} ms`)
  console.log(`Cassandra ${report.cassandra.releaseVersion}, connected in ${report.cassandra.connectMs.toFixed(1)} ms`)
  console.log(`Redis     ${report.redis.ping}, connected in ${report.redis.connectMs.toFixed(1)} ms`)
}

main().catch((error) => {
  console.error(`demo failed: [${error.code}] ${error.message}`)
  process.exitCode = 1
})
