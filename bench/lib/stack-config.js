// Where the services are (the local stack unless the environment says otherwise, as
// for the tests) and the settings every contender shares.
'use strict'
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const stack = {
  brokers: (process.env.FLOWCRAFT_KAFKA_BROKERS || '127.0.0.1:9092').split(','),
  contactPoints: (process.env.FLOWCRAFT_CASSANDRA_CONTACT_POINTS || '127.0.0.1:9042').split(','),
  localDataCenter: process.env.FLOWCRAFT_CASSANDRA_DC || 'datacenter1',
  redisUrl: process.env.FLOWCRAFT_REDIS_URL || 'redis://127.0.0.1:6379',
  // Every jobs topic gets this many partitions, for every contender.
  partitions: 8,
  // Jobs in flight per worker, for the addon and the raw floor (the addon's default).
  concurrency: 64,
}

const REFERENCE_DIR = path.join(__dirname, '..', 'reference')

// The reference's ESM modules (they resolve packages from bench/reference/node_modules).
function importReference(file) {
  return import(pathToFileURL(path.join(REFERENCE_DIR, file)).href)
}

// Names for one contender with one worker count: fresh topics and group every time, so
// nothing left from an earlier session is consumed.
function namesFor(contender, session, workers) {
  const base = `bench-${contender}-${session}-${workers}w`
  return {
    tagPrefix: `${contender}-${workers}w`,
    topicName: `${base}-jobs`,
    errorTopic: `${base}-errors`,
    doneTopic: `${base}-done`,
    groupId: `${base}-workers`,
    clientId: base,
  }
}

// The KafkaAdapter options every addon process of a contender shares (workers and client).
function addonAdapterOptions(names, clientId) {
  return {
    kafka: { brokers: stack.brokers, clientId },
    cassandra: { contactPoints: stack.contactPoints, localDataCenter: stack.localDataCenter },
    keyspace: 'bench_addon',
    ensureSchema: true,
    topicName: names.topicName,
    errorTopic: names.errorTopic,
    groupId: names.groupId,
    partitions: stack.partitions,
    concurrency: stack.concurrency,
  }
}

module.exports = { stack, importReference, namesFor, addonAdapterOptions, REFERENCE_DIR }
