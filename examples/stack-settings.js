// Connection settings for the examples: the local stack unless the environment says otherwise.
'use strict'

function adapterOptions(clientId) {
  return {
    kafka: { brokers: (process.env.FLOWCRAFT_KAFKA_BROKERS || '127.0.0.1:9092').split(','), clientId },
    cassandra: {
      contactPoints: (process.env.FLOWCRAFT_CASSANDRA_CONTACT_POINTS || '127.0.0.1:9042').split(','),
      localDataCenter: process.env.FLOWCRAFT_CASSANDRA_DC || 'datacenter1',
    },
    keyspace: 'flowcraft_demo',
    ensureSchema: true,
    topicName: 'flowcraft-demo-jobs',
    groupId: 'flowcraft-demo-workers',
    errorTopic: 'flowcraft-demo-errors',
    partitions: 4,
    concurrency: 32,
    batchMaxMs: 20,
  }
}

module.exports = { adapterOptions }
