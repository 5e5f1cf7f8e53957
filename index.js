// The package's CommonJS entry: the native binding (binding.js, the loader napi-rs
// generates), with every error it throws or rejects with made a FlowcraftNativeError.
// index.mjs re-exports the same names as an ES module.
'use strict'

const binding = require('./binding.js')
const clients = require('./lib/reference-clients.js')

/** Every code a FlowcraftNativeError carries (the README's Errors table; a test keeps them equal). */
const ERROR_CODES = Object.freeze([
  'ERR_BACKEND',
  'ERR_CASSANDRA_CONFIG',
  'ERR_CASSANDRA_DECODE',
  'ERR_CASSANDRA_MISSING_TABLE',
  'ERR_CASSANDRA_QUERY',
  'ERR_CASSANDRA_SCHEMA',
  'ERR_CASSANDRA_TOO_LARGE',
  'ERR_CASSANDRA_UNREACHABLE',
  'ERR_HTTP_LISTEN',
  'ERR_INTERNAL',
  'ERR_INVALID_ARG',
  'ERR_INVALID_BLUEPRINT',
  'ERR_INVALID_INPUT',
  'ERR_INVALID_OPTIONS',
  'ERR_INVALID_REGISTRY',
  'ERR_INVALID_RUN_ID',
  'ERR_KAFKA_CLOSED',
  'ERR_KAFKA_CONFIG',
  'ERR_KAFKA_CONSUME',
  'ERR_KAFKA_CREATE_TOPIC',
  'ERR_KAFKA_PRODUCE',
  'ERR_KAFKA_TRANSACTION',
  'ERR_KAFKA_UNREACHABLE',
  'ERR_NOT_STARTED',
  'ERR_REDIS_COMMAND',
  'ERR_REDIS_CONFIG',
  'ERR_REDIS_UNREACHABLE',
  'ERR_RUN_EXISTS',
  'ERR_RUN_FINISHED',
  'ERR_RUN_NOT_AWAITING',
  'ERR_UNKNOWN_BLUEPRINT',
  'ERR_UNKNOWN_RUN',
  'ERR_WAIT_TIMEOUT',
  'ERR_WORKER_START',
])

const NAME = 'FlowcraftNativeError'

/**
 * What the addon throws and rejects with. `code` is one of ERROR_CODES; `runId`, `nodeId`,
 * `topic` and `table` are set where they apply; `cause` is the error underneath (a
 * backend's FlowcraftNativeError, then the client library's Error with its own code).
 */
class FlowcraftNativeError extends Error {
  constructor(code, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    for (const key of ['runId', 'nodeId', 'topic', 'table']) {
      if (options[key] !== undefined) this[key] = options[key]
    }
  }
}
Object.defineProperty(FlowcraftNativeError.prototype, 'name', { value: NAME, writable: true, configurable: true })

// napi-rs's own argument checks reject with these statuses (before our code runs).
const ARGUMENT_STATUSES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
  'DateExpected',
  'ArrayBufferExpected',
  'DetachableArraybufferExpected',
])

// Errors the addon builds belong to Node's main realm, not always to the caller's (a vm
// context, jest): recognised by shape, never by `instanceof Error`.
function isError(value) {
  return value !== null && typeof value === 'object' && typeof value.message === 'string'
}

/** `error` as a FlowcraftNativeError: the addon's own get their prototype; any other is wrapped. */
function flowcraftError(error, where) {
  if (error instanceof FlowcraftNativeError) return error
  if (isError(error) && error.name === NAME && ERROR_CODES.includes(error.code)) {
    Object.setPrototypeOf(error, FlowcraftNativeError.prototype)
    if (isError(error.cause) && error.cause.name === NAME) flowcraftError(error.cause, where)
    return error
  }
  // napi's conversions reject a value of the wrong type with a status code or a TypeError.
  const argument = isError(error) && (error.name === 'TypeError' || ARGUMENT_STATUSES.has(error.code))
  const message = isError(error) ? error.message : String(error)
  return new FlowcraftNativeError(argument ? 'ERR_INVALID_ARG' : 'ERR_INTERNAL', `${where}: ${message}`, { cause: error })
}

function guarded(fn, where) {
  const guard = function (...args) {
    let result
    try {
      result = fn.apply(this, args)
    } catch (error) {
      throw flowcraftError(error, where)
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      return result.then(undefined, (error) => {
        throw flowcraftError(error, where)
      })
    }
    return result
  }
  Object.defineProperty(guard, 'name', { value: fn.name })
  return guard
}

/** Methods (own, string-named, not accessors) of a class's prototype, guarded in place. */
function guardMethods(target, owner) {
  for (const key of Object.getOwnPropertyNames(target)) {
    if (key === 'constructor') continue
    const descriptor = Object.getOwnPropertyDescriptor(target, key)
    if (typeof descriptor.value !== 'function') continue
    Object.defineProperty(target, key, { ...descriptor, value: guarded(descriptor.value, `${owner}.${key}`) })
  }
}

/**
 * A class whose construction, methods and static methods throw FlowcraftNativeErrors;
 * `prepare` turns the constructor's arguments into the native ones first, and `created`
 * sees each new instance with the arguments given.
 */
function guardedClass(NativeClass, { prepare = (args) => args, created = () => {} } = {}) {
  guardMethods(NativeClass.prototype, NativeClass.name)
  guardMethods(NativeClass, NativeClass.name)
  const proxy = new Proxy(NativeClass, {
    construct(target, args, newTarget) {
      try {
        // The native constructor sees itself as new.target, not this proxy; a JS subclass
        // of the proxy stays its own new.target.
        const instance = Reflect.construct(target, prepare(args), newTarget === proxy ? target : newTarget)
        created(instance, args)
        return instance
      } catch (error) {
        throw flowcraftError(error, `new ${target.name}`)
      }
    },
  })
  return proxy
}

/** Settings read from a client object the user passed, or refused saying what to pass. */
function readingClients(read, where) {
  try {
    return read()
  } catch (error) {
    if (!(error instanceof clients.ClientSettingsError)) throw error
    throw new FlowcraftNativeError('ERR_INVALID_OPTIONS', `${where}: ${error.message}`)
  }
}

// An object of some client library (not plain options, not our store) would be read as
// options with every field missing, so connect to the default address: refused instead.
function isForeignClient(value) {
  if (value === null || typeof value !== 'object') return false
  const prototype = Object.getPrototypeOf(value)
  return prototype !== null && prototype !== Object.prototype && !(value instanceof binding.RedisCoordinationStore)
}

// ioredis-style options would be read as RedisConfig with no url: the default address.
const NOT_REDIS_CONFIG_KEYS = ['host', 'port', 'path', 'sentinels', 'db']

function refuseForeignStore(value, where) {
  if (isForeignClient(value)) {
    const kind = value.constructor && value.constructor.name ? `a ${value.constructor.name}` : 'an object of another library'
    throw new FlowcraftNativeError('ERR_INVALID_OPTIONS', `${where} is ${kind}: pass a RedisCoordinationStore, its options ({ url, ... }) or an ioredis client`)
  }
  const misnamed = value !== null && typeof value === 'object' && NOT_REDIS_CONFIG_KEYS.find((key) => key in value)
  if (misnamed) {
    throw new FlowcraftNativeError('ERR_INVALID_OPTIONS', `${where} has ${misnamed}, which the store's options do not take: give { url: 'redis://host:port/db' } (or an ioredis client)`)
  }
}

// How each KafkaAdapter finds its brokers when they are only known at start() (a kafkajs
// instance), and the tables it uses (for createKafkaReconciler's reference options).
const brokerDiscovery = new WeakMap()
const adapterTables = new WeakMap()

function kafkaAdapterClass(NativeKafkaAdapter) {
  const useDiscoveredBrokers = NativeKafkaAdapter.prototype.__useDiscoveredBrokers
  delete NativeKafkaAdapter.prototype.__useDiscoveredBrokers
  let kafka = {}
  const KafkaAdapter = guardedClass(NativeKafkaAdapter, {
    prepare([options, ...rest]) {
      const translated = readingClients(() => clients.adapterOptions(options), 'new KafkaAdapter')
      if (translated.options !== null && typeof translated.options === 'object') {
        refuseForeignStore(translated.options.coordinationStore, 'new KafkaAdapter: coordinationStore')
      }
      kafka = translated.kafka
      return [translated.options, ...rest]
    },
    created(adapter, [options = {}]) {
      if (kafka.discover) brokerDiscovery.set(adapter, kafka)
      adapterTables.set(adapter, { keyspace: options.keyspace ?? 'flowcraft', statusTableName: options.statusTableName ?? 'flowcraft_statuses' })
    },
  })
  const nativeStart = NativeKafkaAdapter.prototype.start
  const start = async function start() {
    const discovery = brokerDiscovery.get(this)
    if (!discovery) return nativeStart.call(this)
    let brokers
    try {
      brokers = await discovery.discover()
    } catch (error) {
      if (error instanceof clients.ClientSettingsError) {
        throw new FlowcraftNativeError('ERR_INVALID_OPTIONS', `KafkaAdapter.start: ${error.message}`)
      }
      const how = discovery.fromInstance ? "the kafkajs instance's admin().describeCluster()" : 'kafka.brokers()'
      throw new FlowcraftNativeError('ERR_KAFKA_UNREACHABLE', `KafkaAdapter.start: ${how} did not name the brokers: ${error && error.message}`, { cause: error })
    }
    guarded(useDiscoveredBrokers, 'KafkaAdapter.start').call(this, brokers)
    try {
      return await nativeStart.call(this)
    } catch (error) {
      if (!discovery.fromInstance || error.code !== 'ERR_KAFKA_UNREACHABLE') throw error
      throw new FlowcraftNativeError(
        'ERR_KAFKA_UNREACHABLE',
        `${error.message}. The brokers (${brokers.join(', ')}) were named by the kafkajs instance, which keeps its SSL and SASL settings private, so they were tried without: if the cluster needs them, pass the kafkajs config object ({ brokers, ssl, sasl }) as kafka instead of the instance`,
        { cause: error },
      )
    }
  }
  Object.defineProperty(NativeKafkaAdapter.prototype, 'start', { value: start, writable: true, configurable: true })
  return KafkaAdapter
}

function redisStoreClass(NativeStore) {
  return guardedClass(NativeStore, {
    prepare([options, ...rest]) {
      if (clients.isIoredisClient(options)) {
        return [readingClients(() => clients.redisSettings(options), 'new RedisCoordinationStore'), ...rest]
      }
      refuseForeignStore(options, 'new RedisCoordinationStore: its argument')
      return [options, ...rest]
    },
  })
}

/** The reference's reconciler options (cassandraClient, keyspace, statusTableName) too. */
function reconcilerFactory(nativeCreate) {
  const create = guarded(nativeCreate, 'createKafkaReconciler')
  return function createKafkaReconciler(options) {
    if (options === null || typeof options !== 'object') return create(options)
    const { adapter, stalledThresholdSeconds, cassandraClient, ...tables } = options
    if (cassandraClient !== undefined && !clients.isCassandraDriverClient(cassandraClient)) {
      throw new FlowcraftNativeError('ERR_INVALID_OPTIONS', 'createKafkaReconciler: cassandraClient is not a cassandra-driver Client')
    }
    const used = adapterTables.get(adapter)
    for (const [key, value] of Object.entries(tables)) {
      if (value === undefined) continue
      if (!used || !(key in used)) throw new FlowcraftNativeError('ERR_INVALID_OPTIONS', `createKafkaReconciler: unknown option ${key}`)
      if (value !== used[key]) {
        throw new FlowcraftNativeError('ERR_INVALID_OPTIONS', `createKafkaReconciler: ${key} '${value}' is not the adapter's ('${used[key]}'); the reconciler reads the tables its adapter writes`)
      }
    }
    return create({ adapter, stalledThresholdSeconds })
  }
}

/**
 * `run(..., { signal })`: an AbortSignal cancels the run when it fires (as FlowRuntime's
 * run option), and the run resolves `cancelled`. Without a signal, the native `run`.
 */
function abortableRun(NativeClass) {
  const nativeRun = NativeClass.prototype.run
  const where = `${NativeClass.name}.run`
  const run = async function run(blueprintId, initialContext, options) {
    if (options === null || typeof options !== 'object' || options.signal === undefined) {
      return nativeRun.call(this, blueprintId, initialContext, options)
    }
    const { signal, timeoutMs, ...startOptions } = options
    const isSignal = signal !== null && typeof signal === 'object' && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function'
    if (!isSignal) throw new FlowcraftNativeError('ERR_INVALID_ARG', `${where}: options.signal must be an AbortSignal`)
    const runId = await this.startRun(blueprintId, initialContext, startOptions)
    const cancel = () => {
      const reason = isError(signal.reason) ? `Run cancelled: ${signal.reason.message}` : 'Run cancelled by its AbortSignal'
      // A run that completed or failed first keeps its result; waitForRun reports it.
      this.cancel(runId, reason).catch(() => {})
    }
    if (signal.aborted) cancel()
    else signal.addEventListener('abort', cancel, { once: true })
    try {
      return await this.waitForRun(runId, timeoutMs === undefined ? undefined : { timeoutMs })
    } finally {
      signal.removeEventListener('abort', cancel)
    }
  }
  Object.defineProperty(NativeClass.prototype, 'run', { value: guarded(run, where), writable: true, configurable: true })
}

// Classes whose instances only the addon makes (createKafkaReconciler, runEach): guarded,
// not exported.
const INTERNAL_CLASSES = new Set(['KafkaReconciler', 'RunResults'])
const SPECIAL = {
  KafkaAdapter: kafkaAdapterClass,
  RedisCoordinationStore: redisStoreClass,
  createKafkaReconciler: reconcilerFactory,
}

for (const [name, value] of Object.entries(binding)) {
  if (name.startsWith('__') || typeof value !== 'function') {
    module.exports[name] = value
  } else if (INTERNAL_CLASSES.has(name)) {
    guardedClass(value)
  } else if (SPECIAL[name]) {
    module.exports[name] = SPECIAL[name](value)
  } else if (/^[A-Z]/.test(name)) {
    module.exports[name] = guardedClass(value)
  } else {
    module.exports[name] = guarded(value, name)
  }
}
abortableRun(binding.InMemoryAdapter)
abortableRun(binding.KafkaAdapter)
module.exports.FlowcraftNativeError = FlowcraftNativeError
module.exports.ERROR_CODES = ERROR_CODES
