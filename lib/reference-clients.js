// The reference adapter's constructor arguments (a kafkajs instance or config, a
// cassandra-driver Client, an ioredis client) read into this addon's own settings. The
// addon opens its own connections: it only reads where and how to connect from what the
// user passes, through the objects' public API, and refuses what it cannot read instead
// of connecting anywhere else.
'use strict'

/** A kafkajs `Kafka` instance: its brokers are private, its admin API names them. */
function isKafkajsInstance(value) {
  return isObject(value) && ['admin', 'producer', 'consumer'].every((name) => typeof value[name] === 'function')
}

/** A cassandra-driver `Client` (its settings are the public `options`). */
function isCassandraDriverClient(value) {
  return isObject(value) && typeof value.execute === 'function' && isObject(value.options) && 'contactPoints' in value.options
}

/**
 * An ioredis `Redis` or `Cluster` (settings in the public `options`, which ioredis fills
 * with its defaults). Other libraries' clients with `sendCommand` and `options` (node-redis)
 * are not taken for one: their settings live elsewhere.
 */
function isIoredisClient(value) {
  if (!isObject(value) || !isObject(value.options)) return false
  // ioredis's own methods (its classes are named EventEmitter at run time, by its mixins).
  const ioredis = ['sendCommand', 'defineCommand', 'pipeline', 'duplicate'].every((name) => typeof value[name] === 'function')
  if (!ioredis || typeof value.status !== 'string') return false
  if (value.isCluster === true) return true
  return typeof value.options.host === 'string' || typeof value.options.path === 'string' || Array.isArray(value.options.sentinels)
}

function isObject(value) {
  return value !== null && typeof value === 'object'
}

class ClientSettingsError extends Error {}

const refuse = (message) => {
  throw new ClientSettingsError(message)
}

// Some brokers are only known once connected; this name can never resolve (RFC 2606),
// so nothing connects before start() names the real ones.
const NOT_YET_DISCOVERED = 'brokers-named-at-start.invalid:9092'

/**
 * `kafka` as the addon takes it, and `discover` when the brokers are only known at
 * start(): `{ kafka, discover? }`.
 */
function kafkaSettings(kafka) {
  if (isKafkajsInstance(kafka)) {
    return {
      kafka: { brokers: [NOT_YET_DISCOVERED] },
      discover: () => brokersOfKafkajsInstance(kafka),
      fromInstance: true,
    }
  }
  if (!isObject(kafka)) return { kafka }
  if (!isKafkajsConfig(kafka)) {
    // The addon's own shape; its SASL named as kafkajs names it too (any case).
    return { kafka: kafka.sasl === undefined ? kafka : { ...kafka, sasl: kafkaSasl(kafka.sasl) } }
  }
  const { brokers, clientId, ssl, sasl, connectionTimeout } = kafka
  const settings = { clientId }
  if (connectionTimeout !== undefined) settings.connectTimeoutMs = connectionTimeout
  const config = {}
  if (ssl !== undefined) settings.ssl = kafkaTls(ssl, config)
  if (sasl !== undefined) settings.sasl = kafkaSasl(sasl)
  if (Object.keys(config).length > 0) settings.config = config
  if (typeof brokers === 'function') {
    return {
      kafka: { ...settings, brokers: [NOT_YET_DISCOVERED] },
      discover: async () => {
        const named = await brokers()
        if (!Array.isArray(named)) refuse(`kafka.brokers() returned ${typeof named}, not an array of 'host:port'`)
        return named
      },
    }
  }
  return { kafka: { ...settings, brokers } }
}

/** kafkajs's config (TLS as Node's `tls` options, `connectionTimeout`), not the addon's. */
function isKafkajsConfig(kafka) {
  const tlsOptions = isObject(kafka.ssl) && ['ca', 'cert', 'key', 'servername', 'passphrase', 'pfx'].some((key) => key in kafka.ssl)
  return typeof kafka.brokers === 'function' || tlsOptions || 'connectionTimeout' in kafka || 'retry' in kafka || 'logLevel' in kafka || 'logCreator' in kafka
}

/** kafkajs's `ssl` (true or Node's tls options) as librdkafka's: PEM text passes as is. */
function kafkaTls(ssl, config) {
  if (typeof ssl === 'boolean') return ssl
  if (!isObject(ssl)) refuse(`kafka.ssl must be true, false or TLS options, not ${typeof ssl}`)
  for (const key of Object.keys(ssl)) {
    if (!['ca', 'cert', 'key', 'rejectUnauthorized'].includes(key)) {
      refuse(`kafka.ssl.${key} cannot be passed on to librdkafka: give PEM text as ssl.ca, ssl.cert and ssl.key, or the addon's kafka: { ssl: { caLocation, certLocation, keyLocation } }`)
    }
  }
  const pem = (name, value) => {
    const parts = Array.isArray(value) ? value : [value]
    return parts
      .map((part, index) => {
        if (typeof part === 'string' || Buffer.isBuffer(part)) return part.toString()
        return refuse(`kafka.ssl.${name}${Array.isArray(value) ? `[${index}]` : ''} is not PEM text (a string or Buffer)`)
      })
      .join('\n')
  }
  if (ssl.ca !== undefined) config['ssl.ca.pem'] = pem('ca', ssl.ca)
  if (ssl.cert !== undefined) config['ssl.certificate.pem'] = pem('cert', ssl.cert)
  if (ssl.key !== undefined) config['ssl.key.pem'] = pem('key', ssl.key)
  return ssl.rejectUnauthorized === false ? { rejectUnauthorized: false } : true
}

/**
 * kafkajs's `sasl` in the addon's shape. The addon checks the mechanism (any case) and the
 * username: kafkajs's oauthbearer and aws settings have none, so an absent one is passed
 * as empty for that check to name the mechanism.
 */
function kafkaSasl(sasl) {
  if (!isObject(sasl)) refuse('kafka.sasl must be { mechanism, username, password }')
  return { mechanism: sasl.mechanism, username: sasl.username ?? '', password: sasl.password ?? '' }
}

/** `host:port`, an IPv6 host in brackets. */
function hostAndPort(host, port) {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`
}

async function brokersOfKafkajsInstance(kafka) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const { brokers } = await admin.describeCluster()
    return brokers.map(({ host, port }) => hostAndPort(host, port))
  } finally {
    await admin.disconnect()
  }
}

/** A cassandra-driver Client's settings as the addon's `cassandra` option. */
function cassandraSettings(client, where = 'cassandraClient') {
  const options = client.options
  const port = options.protocolOptions?.port
  const contactPoints = (options.contactPoints ?? []).map((point) => {
    if (typeof point !== 'string') refuse(`${where}.options.contactPoints holds ${typeof point}: give 'host' or 'host:port' strings`)
    const bareIpv6 = point.split(':').length > 2 && !point.startsWith('[')
    if (bareIpv6) return hostAndPort(point, port ?? 9042)
    return port === undefined || /:\d+$/.test(point) ? point : `${point}:${port}`
  })
  if (contactPoints.length === 0) refuse(`${where} has no contactPoints: create it with { contactPoints: ['host:port'], localDataCenter }`)
  const settings = { contactPoints }
  if (options.localDataCenter !== undefined) settings.localDataCenter = options.localDataCenter
  const credentials = options.credentials ?? plainTextCredentials(options.authProvider, where)
  if (credentials) settings.credentials = { username: credentials.username, password: credentials.password }
  if (options.sslOptions) {
    const { ca, cert, key, pfx, rejectUnauthorized } = options.sslOptions
    if (ca !== undefined || cert !== undefined || key !== undefined || pfx !== undefined) {
      refuse(`${where}.options.sslOptions holds certificates the addon cannot take from memory: pass cassandra: { contactPoints, localDataCenter, ssl: { caLocation, certLocation, keyLocation } } instead of cassandraClient`)
    }
    settings.ssl = rejectUnauthorized === false ? { rejectUnauthorized: false } : true
  }
  const connectTimeout = options.socketOptions?.connectTimeout
  if (typeof connectTimeout === 'number') settings.connectTimeoutMs = connectTimeout
  return settings
}

function plainTextCredentials(authProvider, where) {
  // cassandra-driver's default when no credentials are given.
  if (!authProvider || authProvider.constructor?.name === 'NoAuthProvider') return undefined
  if (typeof authProvider.username === 'string' && typeof authProvider.password === 'string') return authProvider
  return refuse(`${where}.options.authProvider is not a PlainTextAuthProvider: pass cassandra: { ..., credentials: { username, password } } instead of cassandraClient`)
}

/** An ioredis client's settings as the addon's RedisConfig. */
function redisSettings(client, where = 'the ioredis client') {
  const options = client.options
  if (client.isCluster) refuse(`${where} is a Redis Cluster client, which this store does not take yet: pass { url } of one Redis`)
  if (Array.isArray(options.sentinels) && options.sentinels.length > 0) {
    refuse(`${where} connects through Sentinel, which this store does not take yet: pass { url } of the primary`)
  }
  if (options.path) refuse(`${where} connects over the Unix socket ${options.path}, which this store does not take: pass { url: 'redis://host:port' }`)
  const { host, port } = options
  if (typeof host !== 'string' || typeof port !== 'number') refuse(`${where} names no host and port in its options`)
  const url = `${options.tls ? 'rediss' : 'redis'}://${hostAndPort(host, port)}/${options.db ?? 0}`
  const settings = { url }
  if (options.username) settings.username = options.username
  if (options.password) settings.password = options.password
  if (typeof options.connectTimeout === 'number') settings.connectTimeoutMs = options.connectTimeout
  if (isObject(options.tls)) {
    const { ca, cert, key, pfx, rejectUnauthorized } = options.tls
    if (ca !== undefined || cert !== undefined || key !== undefined || pfx !== undefined) {
      refuse(`${where}'s tls options hold certificates the store cannot take from memory: pass { url, tls: { caLocation, certLocation, keyLocation } }`)
    }
    settings.tls = rejectUnauthorized === false ? { rejectUnauthorized: false } : true
  }
  return settings
}

/**
 * KafkaAdapter options as the reference adapter takes them (`cassandraClient`, a kafkajs
 * `kafka`, an ioredis client as `coordinationStore`) turned into the addon's; returns
 * `{ options, kafka }` where `kafka` says how brokers are found (see kafkaSettings).
 */
function adapterOptions(options) {
  if (!isObject(options)) return { options, kafka: {} }
  const translated = { ...options }
  if (options.cassandraClient !== undefined) {
    if (options.cassandra !== undefined) refuse('give cassandra or cassandraClient, not both')
    if (!isCassandraDriverClient(options.cassandraClient)) {
      refuse('cassandraClient is not a cassandra-driver Client (with public options.contactPoints): pass one, or cassandra: { contactPoints, localDataCenter }')
    }
    translated.cassandra = cassandraSettings(options.cassandraClient)
    delete translated.cassandraClient
  } else if (isCassandraDriverClient(options.cassandra)) {
    translated.cassandra = cassandraSettings(options.cassandra, 'cassandra')
  }
  if (isIoredisClient(options.coordinationStore)) {
    translated.coordinationStore = redisSettings(options.coordinationStore, 'coordinationStore (an ioredis client)')
  }
  const kafka = kafkaSettings(options.kafka)
  translated.kafka = kafka.kafka
  return { options: translated, kafka }
}

module.exports = {
  ClientSettingsError,
  adapterOptions,
  isCassandraDriverClient,
  isIoredisClient,
  redisSettings,
}
