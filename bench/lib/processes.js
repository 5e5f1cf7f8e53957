// Child processes that talk in lines: workers print READY / ASSIGNED <partitions>,
// the raw-floor driver prints `done ...` lines. Waits for a settled consumer group.
'use strict'
const { spawn } = require('node:child_process')

class LineProcess {
  constructor(name, command, args, { env, cwd } = {}) {
    this.name = name
    this.child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    this.pid = this.child.pid
    this.listeners = new Set()
    this.stderr = []
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })))
    this.exitCode = undefined
    this.exited.then(({ code, signal }) => {
      this.exitCode = code ?? signal
    })
    let pending = ''
    this.child.stdout.on('data', (chunk) => {
      pending += chunk.toString()
      let newline
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        for (const listener of this.listeners) listener(line)
      }
    })
    this.child.stderr.on('data', (chunk) => {
      // Keep the tail for error reports; stay quiet otherwise.
      this.stderr.push(chunk.toString())
      if (process.env.BENCH_DEBUG) process.stderr.write(`[${this.name}] ${chunk}`)
      if (this.stderr.length > 50) this.stderr.shift()
    })
    this.child.stdin.on('error', () => {})
  }

  onLine(listener) {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  send(line) {
    if (this.exitCode === undefined) this.child.stdin.write(`${line}\n`)
  }

  // Resolves with the first line `test` accepts; rejects if the process dies first.
  waitFor(test, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.stderrTail()}`)), timeoutMs)
      const off = this.onLine((line) => {
        const value = test(line)
        if (value !== undefined && value !== false) done(null, value)
      })
      this.exited.then(({ code, signal }) => done(new Error(`${this.name} exited (${code ?? signal}) before ${what}\n${this.stderrTail()}`)))
      function done(error, value) {
        clearTimeout(timer)
        off()
        if (error) reject(error)
        else resolve(value)
      }
    })
  }

  stderrTail() {
    return this.stderr.join('').split('\n').slice(-15).join('\n')
  }

  async stop({ signal = 'SIGTERM', graceMs = 3000 } = {}) {
    if (this.exitCode !== undefined) return
    this.child.stdin.end()
    if (signal) this.child.kill(signal)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

// Every worker prints `ASSIGNED <p,p,...>` when its partitions change. The group is
// settled when the workers' latest assignments are disjoint, cover every partition,
// give each worker some, and stayed so for `quietMs`.
function waitForSettledGroup(workers, partitions, { timeoutMs = 60000, quietMs = 1500 } = {}) {
  const latest = new Map(workers.map((w) => [w, []]))
  return new Promise((resolve, reject) => {
    let quietTimer = null
    const offs = workers.map((w) =>
      w.onLine((line) => {
        const match = /^ASSIGNED ?(.*)$/.exec(line)
        if (!match) return
        latest.set(w, match[1] ? match[1].split(',').filter(Boolean).map(Number) : [])
        check()
      }),
    )
    const timer = setTimeout(() => finish(new Error(`consumer group did not settle within ${timeoutMs} ms: ${describe()}`)), timeoutMs)
    for (const w of workers) w.exited.then(({ code }) => finish(new Error(`${w.name} exited (${code})\n${w.stderrTail()}`)))
    function describe() {
      return workers.map((w) => `${w.name}=[${latest.get(w).join(',')}]`).join(' ')
    }
    function settled() {
      const all = [...latest.values()]
      const union = new Set(all.flat())
      return all.every((p) => p.length > 0) && union.size === partitions && all.flat().length === partitions
    }
    function check() {
      clearTimeout(quietTimer)
      if (settled()) quietTimer = setTimeout(() => finish(null), quietMs)
    }
    function finish(error) {
      clearTimeout(timer)
      clearTimeout(quietTimer)
      for (const off of offs) off()
      if (error) reject(error)
      else resolve(describe())
    }
  })
}

module.exports = { LineProcess, waitForSettledGroup }
