// Runs users' Flowcraft node implementations on the JS thread for the native engine.
// Evaluated once per adapter by the addon (it is the value of this expression), given
// the registry, the user's dependencies, `complete('callId\njson\n...')` (a native
// function that hands results back to Rust), an optional custom evaluator, and
// `contextValue(callId, key)` / `contextAll(callId)` (native: the JSON of one value or of
// the whole context of a call whose large context stayed in Rust), the user's logger (or
// undefined), `log(level, message, contextJson)` (native: the adapter's logger),
// Flowcraft's `middleware` list and `eventBus` (checked by the addon; may be undefined).
// Calls arrive in batches as JSON.
;(function createNodeRuntime(registry, userDependencies, complete, evaluator, contextValue, contextAll, userLogger, log, middleware, eventBus) {
  'use strict'

  // `ctx.dependencies.logger`, as in Flowcraft: the user's own dependency, else the
  // adapter's `logger`, else one writing through the adapter's (stderr, `logLevel`).
  function contextJson(context) {
    if (context === undefined) return undefined
    try {
      return JSON.stringify(context)
    } catch (_) {
      return undefined
    }
  }
  const nativeLogger = {}
  for (const level of ['debug', 'info', 'warn', 'error']) {
    nativeLogger[level] = (message, context) => log(level, String(message), contextJson(context))
  }
  const baseDependencies =
    userDependencies.logger !== undefined ? userDependencies : { ...userDependencies, logger: userLogger || nativeLogger }

  const signals = new Map()
  // Never written: a view copies its snapshot before any change.
  const EMPTY_CONTEXT = Object.freeze({})

  // Answers go back in batches: one native call carries every answer of this tick, as
  // one string of `callId \n json \n` pairs (JSON text never holds a raw newline), so
  // the crossing converts one string, not two values per answer.
  let answers = []
  function answer(callId, json) {
    if (answers.length === 0) queueMicrotask(flushAnswers)
    answers.push(callId, json)
  }
  function flushAnswers() {
    const batch = answers
    answers = []
    complete(batch.join('\n'))
  }

  // Own properties only, so keys such as `__proto__` can never reach a prototype.
  function plainObject(entries) {
    const object = {}
    for (const [key, value] of entries) {
      Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
    }
    return object
  }

  // Flowcraft's IAsyncContext over the snapshot the job loaded. Writes are visible to
  // this node at once and collected; the engine applies them with the node's output.
  class NodeContextView {
    constructor(snapshot) {
      this.snapshot = snapshot
      this.entries = undefined
      this.ops = []
    }
    // Built on first use: many nodes never touch the context.
    get values() {
      if (this.entries === undefined) this.entries = new Map(Object.entries(this.snapshot))
      return this.entries
    }
    async get(key) {
      return this.values.get(key)
    }
    async set(key, value) {
      this.values.set(key, value)
      this.ops.push({ op: 'set', key, value: value === undefined ? null : value })
    }
    async has(key) {
      return this.values.has(key)
    }
    async delete(key) {
      const existed = this.values.delete(key)
      this.ops.push({ op: 'delete', key })
      return existed
    }
    async toJSON() {
      return plainObject(this.values)
    }
    async patch(operations) {
      for (const operation of operations) {
        if (operation.op === 'set') await this.set(operation.key, operation.value)
        else if (operation.op === 'delete') await this.delete(operation.key)
        else throw new Error(`patch: unknown op ${JSON.stringify(operation.op)}`)
      }
    }
  }

  // The same view over a large context left in Rust: each key is read once, on first use,
  // and this node's own writes and deletes are kept here, ahead of what was read.
  const DELETED = Symbol('deleted')
  class KeyedContextView extends NodeContextView {
    constructor(callId) {
      super(EMPTY_CONTEXT)
      this.callId = callId
      this.read = new Map()
    }
    lookup(key) {
      // As the eager view: only string keys were ever stored.
      if (!this.read.has(key)) {
        const json = typeof key === 'string' ? contextValue(this.callId, key) : undefined
        this.read.set(key, json === undefined || json === null ? DELETED : JSON.parse(json))
      }
      return this.read.get(key)
    }
    async get(key) {
      const value = this.lookup(key)
      return value === DELETED ? undefined : value
    }
    async set(key, value) {
      this.read.set(key, value)
      this.ops.push({ op: 'set', key, value: value === undefined ? null : value })
    }
    async has(key) {
      return this.lookup(key) !== DELETED
    }
    async delete(key) {
      const existed = this.lookup(key) !== DELETED
      this.read.set(key, DELETED)
      this.ops.push({ op: 'delete', key })
      return existed
    }
    async toJSON() {
      const json = contextAll(this.callId)
      const values = new Map(Object.entries(json === undefined || json === null ? {} : JSON.parse(json)))
      for (const { key } of this.ops) {
        const value = this.read.get(key)
        if (value === DELETED) values.delete(key)
        else values.set(key, value)
      }
      return plainObject(values)
    }
  }

  function isNodeClass(impl) {
    return typeof impl === 'function' && !!(impl.prototype && impl.prototype.exec)
  }

  // Flowcraft's BaseNode lifecycle (its ClassNodeExecutor), one attempt per call: `prep`
  // runs once per execution (a later attempt gets its result back as `call.prepared`);
  // `exec` is the only phase retried; `fallback` runs once exec's last attempt failed,
  // unless the error is fatal; then `post`; `recover` runs once, when the execution ends
  // with an error (one `fallback` recovered from included), never before a retry.
  async function runClassNode(Impl, call, ctx, signal) {
    const node = new Impl(call.params || {}, call.nodeId)
    let failure
    let retried = false
    try {
      let prepared
      if (call.prepared !== undefined) {
        prepared = call.prepared.value
      } else {
        try {
          prepared = typeof node.prep === 'function' ? await node.prep(ctx) : ctx.input
        } catch (error) {
          throw markLast(error)
        }
      }
      let result
      try {
        result = await node.exec(prepared, ctx)
      } catch (error) {
        if (isFatal(error)) throw error
        if (!call.lastAttempt) {
          retried = true
          throw withPrepared(error, prepared)
        }
        if (typeof node.fallback !== 'function' || signal.aborted) throw error
        failure = error
        result = await node.fallback(error, ctx)
      }
      if (typeof node.post !== 'function') return result
      try {
        return await node.post(result, ctx)
      } catch (error) {
        throw markLast(error)
      }
    } catch (error) {
      failure = error
      throw error
    } finally {
      if (failure !== undefined && !retried && typeof node.recover === 'function') {
        try {
          await node.recover(failureError(failure), ctx)
        } catch (_) {
          // Flowcraft logs and swallows errors from recover().
        }
      }
    }
  }

  // Flowcraft's FlowcraftError with `isFatal: true` (recognised by the flag: the user's
  // copy of flowcraft is not ours): no retry, no fallback.
  function isFatal(error) {
    return error !== null && typeof error === 'object' && error.isFatal === true
  }

  function isPlainData(value, depth) {
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
    if (typeof value === 'number') return Number.isFinite(value)
    if (typeof value !== 'object' || depth > 64) return false
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainData(value[i], depth + 1)) return false
      return true
    }
    // Any realm's Object.prototype (a node made in a vm context, as jest's, counts).
    const proto = Object.getPrototypeOf(value)
    const plainProto = proto === null || (Object.getPrototypeOf(proto) === null && proto.constructor && proto.constructor.name === 'Object')
    if (!plainProto) return false
    for (const key of Object.keys(value)) if (!isPlainData(value[key], depth + 1)) return false
    return true
  }

  // How a failure travels from a class node to failureJson (the thrown value itself is
  // what recover() sees).
  const LAST = Symbol('lastAttempt')
  const PREPARED = Symbol('prepared')
  function markLast(error) {
    return { [LAST]: true, error }
  }
  function withPrepared(error, prepared) {
    return { [PREPARED]: prepared, error }
  }
  function failureError(failure) {
    return failure !== null && typeof failure === 'object' && (LAST in failure || PREPARED in failure)
      ? failure.error
      : failure
  }

  function describe(value) {
    if (value === null) return 'null'
    if (Array.isArray(value)) return 'an array'
    return `a ${typeof value}`
  }

  function failureJson(thrown) {
    const error = failureError(thrown)
    const isError = error !== null && typeof error === 'object' && 'message' in error
    const failure = {
      ok: false,
      message: isError ? String(error.message) : String(error),
      stack: isError && typeof error.stack === 'string' ? error.stack : undefined,
    }
    if (isFatal(error)) failure.fatal = true
    if (thrown !== null && typeof thrown === 'object' && LAST in thrown) failure.last = true
    if (thrown !== null && typeof thrown === 'object' && PREPARED in thrown) {
      // prep's result goes with the retry when it is plain data (JSON gives it back the
      // same); anything else (a class instance, a function, a Date) makes prep run again.
      const prepared = thrown[PREPARED]
      if (prepared === undefined) failure.prepared = {}
      else if (isPlainData(prepared, 0)) failure.prepared = { value: prepared }
    }
    return JSON.stringify(failure)
  }

  function resultJson(call, view, result) {
    if (result === undefined || result === null) {
      return JSON.stringify({ ok: true, ops: view.ops })
    }
    if (typeof result !== 'object' || Array.isArray(result)) {
      return failureJson(
        new Error(
          `node '${call.nodeId}' returned ${describe(result)}; a node must return an object ` +
            `such as { output, action } (or nothing)`,
        ),
      )
    }
    if (result.action !== undefined && result.action !== null && typeof result.action !== 'string') {
      return failureJson(new Error(`node '${call.nodeId}' returned an action that is ${describe(result.action)}, not a string`))
    }
    try {
      return JSON.stringify({
        ok: true,
        output: result.output,
        action: result.action === null ? undefined : result.action,
        ops: view.ops,
        dynamicNodes: result.dynamicNodes,
      })
    } catch (error) {
      return failureJson(
        new Error(`node '${call.nodeId}' returned an output or context value that is not JSON-serialisable: ${error.message}`),
      )
    }
  }

  // The AbortSignal a node sees, made only when the node asks for it (creating an
  // AbortController costs more than a trivial node): an abort that comes first is kept
  // and applied when the signal is made.
  class CallSignal {
    constructor() {
      this.controller = undefined
      this.reason = undefined
    }
    get signal() {
      if (this.controller === undefined) {
        this.controller = new AbortController()
        if (this.reason !== undefined) this.controller.abort(this.reason)
      }
      return this.controller.signal
    }
    get aborted() {
      return this.reason !== undefined
    }
    abort(reason) {
      if (this.reason !== undefined) return
      this.reason = reason
      if (this.controller !== undefined) this.controller.abort(reason)
    }
  }

  // What a node function gets: `{ context, input, params, dependencies, signal }`. A class
  // with `signal` as a getter on its prototype: an accessor in an object literal made
  // every call ~1.5 µs slower.
  const CALL_SIGNAL = Symbol('callSignal')
  class NodeCallContext {
    constructor(call, view, signal) {
      this.context = view
      this.input = call.input
      this.params = call.params || {}
      this.dependencies = {
        ...baseDependencies,
        runId: call.runId,
        blueprintId: call.blueprintId,
        nodeId: call.nodeId,
        attempt: call.attempt,
      }
      // This node's span in its run's trace: { traceId, spanId, parentSpanId, traceparent, tracestate? }.
      this.trace = call.trace
      this[CALL_SIGNAL] = signal
    }
    get signal() {
      return this[CALL_SIGNAL].signal
    }
  }

  function execute(call, ctx, signal) {
    const impl = registry[call.uses]
    return isNodeClass(impl) ? runClassNode(impl, call, ctx, signal) : impl(ctx)
  }

  // Flowcraft's middleware, as its NodeExecutor runs it, around each attempt (here an
  // attempt is a job, perhaps on another worker): `beforeNode` hooks, the node, then
  // `afterNode` hooks with its result or error, all inside the `aroundNode` chain (the
  // first listed outermost). A hook gets the node's context view and its id; what it
  // writes there is applied with the node's output. An `aroundNode` that does not call
  // `next()` gives the node's result itself.
  const hooks = (name) => (middleware || []).map((m) => m[name]).filter((hook) => typeof hook === 'function')
  const beforeHooks = hooks('beforeNode')
  const afterHooks = hooks('afterNode')
  const aroundHooks = hooks('aroundNode')
  const hasMiddleware = beforeHooks.length + afterHooks.length + aroundHooks.length > 0

  // Any realm's Error (jest runs tests in a vm context), by its tag; a DOMException
  // (an AbortError) by its shape.
  function isErrorLike(value) {
    if (Object.prototype.toString.call(value) === '[object Error]') return true
    return value !== null && typeof value === 'object' && typeof value.message === 'string' && typeof value.stack === 'string'
  }

  // What `next()` throws, as FlowRuntime's: a FlowcraftError (by shape: `isFatal`) as it
  // is, any other error wrapped, with the node's own error as its `cause`.
  function asFlowcraftError(error, call) {
    if (typeof error.isFatal === 'boolean') return error
    const wrapped = new Error(`Node '${call.nodeId}' execution failed`, { cause: error })
    wrapped.name = 'FlowcraftError'
    Object.assign(wrapped, { nodeId: call.nodeId, blueprintId: call.blueprintId, executionId: call.runId, isFatal: false })
    return wrapped
  }

  async function executeWithMiddleware(call, ctx, signal) {
    const view = ctx.context
    // `thrown` keeps what the node threw (with its retry markers) for failureJson; hooks
    // and `next()` see the error itself.
    let failed
    const core = async () => {
      let result
      let error
      try {
        for (const hook of beforeHooks) await hook(view, call.nodeId)
        result = await execute(call, ctx, signal)
        return { ok: true, result }
      } catch (thrown) {
        const cause = failureError(thrown)
        error = isErrorLike(cause) ? cause : new Error(String(cause))
        failed = { ok: false, thrown, error: asFlowcraftError(error, call) }
        return failed
      } finally {
        for (const hook of afterHooks) await hook(view, call.nodeId, result, error)
      }
    }
    let chain = core
    for (let i = aroundHooks.length - 1; i >= 0; i--) {
      const hook = aroundHooks[i]
      const next = chain
      chain = async () => {
        let captured
        const returned = await hook(view, call.nodeId, async () => {
          captured = await next()
          if (captured.ok) return captured.result
          throw captured.error
        })
        if (captured === undefined && returned) return { ok: true, result: returned }
        if (captured === undefined) {
          const message = `middleware aroundNode of node '${call.nodeId}' did not call next() and did not return a result`
          return { ok: false, thrown: new Error(message), error: new Error(message) }
        }
        return captured
      }
    }
    let outcome
    try {
      outcome = await chain()
    } catch (error) {
      // An aroundNode that rethrew what next() threw: the node's own failure stands.
      if (failed !== undefined && error === failed.error) throw failed.thrown
      throw error
    }
    if (outcome.ok) return outcome.result
    throw outcome.thrown
  }

  function run(call) {
    const signal = new CallSignal()
    signals.set(call.callId, signal)
    const view = call.contextByKey ? new KeyedContextView(call.callId) : new NodeContextView(call.context || EMPTY_CONTEXT)
    const ctx = new NodeCallContext(call, view, signal)
    let pending
    try {
      pending = hasMiddleware ? executeWithMiddleware(call, ctx, signal) : execute(call, ctx, signal)
    } catch (error) {
      pending = Promise.reject(error)
    }
    Promise.resolve(pending).then(
      (result) => {
        signals.delete(call.callId)
        answer(call.callId, resultJson(call, view, result))
      },
      (error) => {
        signals.delete(call.callId)
        answer(call.callId, failureJson(error))
      },
    )
  }

  // Flowcraft-style event bus: listeners per event name, fed in batches from Rust.
  const listeners = new Map()
  // What is listened to, for the addon (which builds no event nobody wants): `*` with a
  // FlowRuntime `eventBus` (it hears everything), else the names with listeners.
  const listened = () =>
    eventBus
      ? '*'
      : [...listeners]
          .filter(([, list]) => list.length > 0)
          .map(([name]) => name)
          .join(',')

  // An adapter event in FlowRuntime's shape (`{ type, payload }`, the run id as
  // `executionId`), or undefined for the events FlowRuntime has no name for.
  function flowcraftEvent(event) {
    const { runId: executionId, blueprintId, nodeId } = event
    const run = { blueprintId, executionId }
    switch (event.type) {
      case 'run:start':
        return { type: 'workflow:start', payload: run }
      case 'run:pause':
        return { type: 'workflow:pause', payload: run }
      case 'run:resume':
        return { type: 'workflow:resume', payload: run }
      case 'run:finish': {
        const payload = { ...run, status: event.status }
        if (event.status === 'failed') payload.errors = [workflowError(event)]
        return { type: 'workflow:finish', payload }
      }
      case 'node:start':
        return { type: 'node:start', payload: { nodeId, executionId, input: event.input, blueprintId } }
      case 'node:finish': {
        const result = { output: event.output }
        if (event.action !== undefined && event.action !== null) result.action = event.action
        return { type: 'node:finish', payload: { nodeId, result, executionId, blueprintId } }
      }
      case 'node:error': {
        // As next() throws it: FlowRuntime's wrapper with the node's error as its cause, a
        // fatal error as it is.
        const cause = new Error(String(event.error))
        if (event.fatal) Object.assign(cause, { name: 'FlowcraftError', nodeId, blueprintId, executionId, isFatal: true })
        const error = asFlowcraftError(cause, event)
        return { type: 'node:error', payload: { nodeId, error, executionId, blueprintId } }
      }
      case 'node:retry':
        return { type: 'node:retry', payload: { nodeId, attempt: event.attempt, executionId, blueprintId } }
      case 'node:fallback':
        return { type: 'node:fallback', payload: { nodeId, executionId, fallback: event.fallback, blueprintId } }
      case 'edge:evaluate':
        return { type: 'edge:evaluate', payload: { source: event.source, target: event.target, condition: event.condition, result: event.result } }
      case 'context:change': {
        const payload = { sourceNode: nodeId, key: event.key, op: event.op, executionId }
        if (event.op === 'set') payload.value = event.value
        return { type: 'context:change', payload }
      }
      case 'batch:start':
        return { type: 'batch:start', payload: { batchId: event.batchId, scatterNodeId: event.scatterNodeId, workerNodeIds: event.workerNodeIds } }
      case 'batch:finish':
        return { type: 'batch:finish', payload: { batchId: event.batchId, gatherNodeId: event.gatherNodeId, results: event.results } }
      case 'node:skipped':
        return { type: 'node:skipped', payload: { nodeId, edge: event.edge, executionId, blueprintId } }
      default:
        return undefined
    }
  }

  // As a failed run's `errors[]` entry.
  function workflowError(event) {
    const failed = event.failedNode || undefined
    const at = typeof event.publishedAt === 'number' ? event.publishedAt : event.timestamp
    const error = { name: 'FlowcraftError', message: String(event.reason), isFatal: !!(failed && failed.fatal), timestamp: new Date(at).toISOString() }
    if (failed) error.nodeId = failed.nodeId
    return error
  }

  function toEventBus(event) {
    const translated = flowcraftEvent(event)
    if (translated === undefined) return
    try {
      Promise.resolve(eventBus.emit(translated)).catch(reportListenerError)
    } catch (error) {
      reportListenerError(error)
    }
  }

  function reportListenerError(error) {
    process.emitWarning(`flowcraft-kafka-native: an event listener threw: ${error && error.stack ? error.stack : error}`)
  }

  return {
    on(name, listener) {
      if (typeof listener !== 'function') throw new TypeError(`on('${name}', listener): listener must be a function`)
      if (!listeners.has(name)) listeners.set(name, [])
      listeners.get(name).push(listener)
      return listened()
    },
    off(name, listener) {
      const list = listeners.get(name)
      const index = list ? list.indexOf(listener) : -1
      if (index >= 0) {
        list.splice(index, 1)
      }
      return listened()
    },
    emitEvents(batchJson) {
      for (const event of JSON.parse(batchJson)) {
        if (eventBus) toEventBus(event)
        // A copy: a listener may remove itself (or another) while the event is told.
        for (const listener of [...(listeners.get(event.type) || [])]) {
          try {
            listener(event)
          } catch (error) {
            reportListenerError(error)
          }
        }
      }
    },
    evaluate(batchJson) {
      for (const { callId, expression, scope } of JSON.parse(batchJson)) {
        Promise.resolve()
          .then(() => evaluator.evaluate(expression, scope))
          .then(
            (value) => answer(callId, JSON.stringify({ ok: true, value })),
            () => answer(callId, JSON.stringify({ ok: false })),
          )
      }
    },
    dispatch(batchJson) {
      for (const call of JSON.parse(batchJson)) run(call)
    },
    abort(batchJson) {
      for (const { callId, reason } of JSON.parse(batchJson)) {
        const signal = signals.get(callId)
        if (signal) signal.abort(new Error(reason))
      }
    },
  }
})
