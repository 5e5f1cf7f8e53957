// Micro-benchmark: trivial JS node calls per second through the threadsafe-function
// path (Rust -> JS -> Rust), strictly sequential and with many calls in flight.
// Run: node bench/node-calls.js [calls]    (not part of npm test)
'use strict'
const { measureNodeCalls } = require('..')

const calls = Number(process.argv[2] || 200000)
const trivial = async (ctx) => ({ output: ctx.input * 2 })

async function main() {
  console.log(`trivial node calls through the threadsafe-function path, ${calls} calls per mode`)
  await measureNodeCalls(trivial, { calls: 5000, inFlight: 64 }) // warm-up
  const rows = []
  for (const inFlight of [1, 64, 1024]) {
    const m = await measureNodeCalls(trivial, { calls: inFlight === 1 ? Math.min(calls, 50000) : calls, inFlight })
    if (m.failed) throw new Error(`${m.failed} calls failed`)
    rows.push(m)
    console.log(`in flight ${String(inFlight).padStart(5)}: ${Math.round(m.callsPerSecond).toLocaleString('en-US').padStart(10)} calls/s  (${(1e6 / m.callsPerSecond).toFixed(1)} µs/call)`)
  }
  return rows
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
