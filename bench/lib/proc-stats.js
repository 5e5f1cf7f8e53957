// CPU and RSS of processes, from /proc (Linux): the workers of a contender, and the
// stack's services (Kafka, Cassandra, Redis) to see what each contender costs them.
'use strict'
const fs = require('node:fs')

const TICKS_PER_SECOND = 100 // USER_HZ; `getconf CLK_TCK` is 100 on Linux x86-64

function readProcess(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start at ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const rssKb = Number((/VmRSS:\s+(\d+)/.exec(status) || [])[1] || 0)
    const peakRssKb = Number((/VmHWM:\s+(\d+)/.exec(status) || [])[1] || 0)
    return { cpuSeconds, rssMb: rssKb / 1024, peakRssMb: peakRssKb / 1024 }
  } catch {
    return null // gone
  }
}

// CPU seconds the whole machine spent busy (all cores), from /proc/stat.
function machineBusySeconds() {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, , , irq, softirq, steal] = fields
  return (user + nice + system + irq + softirq + (steal || 0)) / TICKS_PER_SECOND
}

// The local stack's processes, found by their command lines.
function findStackProcesses() {
  const found = {}
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (cmdline.includes('-Dflowcraft.stack.service=kafka')) found.kafka = Number(entry)
    else if (cmdline.includes('-Dflowcraft.stack.service=cassandra')) found.cassandra = Number(entry)
    else if (cmdline.startsWith('redis-server')) found.redis = Number(entry)
  }
  return found
}

// Measures a phase: CPU used by each group of processes between begin() and end()
// (as % of one core), and the peak RSS of each worker, sampled every `everyMs`.
class ResourceMeter {
  constructor(groups, everyMs = 200) {
    this.groups = groups // { workers: [pid...], client: [pid], kafka: [pid], cassandra: [pid], redis: [pid] }
    this.everyMs = everyMs
  }

  begin() {
    const started = { at: performance.now(), cpu: this.cpuByGroup(), machine: machineBusySeconds(), peakRss: new Map() }
    const sample = () => {
      for (const pid of this.groups.workers) {
        const p = readProcess(pid)
        if (p) started.peakRss.set(pid, Math.max(started.peakRss.get(pid) || 0, p.rssMb))
      }
    }
    sample()
    started.timer = setInterval(sample, this.everyMs)
    started.sample = sample
    return started
  }

  end(started) {
    clearInterval(started.timer)
    started.sample()
    const seconds = (performance.now() - started.at) / 1000
    const cpu = this.cpuByGroup()
    const percent = (group) => (seconds > 0 && group in cpu ? (100 * (cpu[group] - started.cpu[group])) / seconds : 0)
    const rss = [...started.peakRss.values()]
    const services = ['kafka', 'cassandra', 'redis']
    const measured = ['workers', 'client', ...services].reduce((sum, g) => sum + percent(g), 0)
    const machine = seconds > 0 ? (100 * (machineBusySeconds() - started.machine)) / seconds : 0
    return {
      // Anything else on the machine meanwhile (a compile, other tests): a disturbance.
      otherCpuPercent: Math.max(0, machine - measured),
      workerCpuPercent: percent('workers'),
      clientCpuPercent: percent('client'),
      stackCpuPercent: services.reduce((sum, s) => sum + percent(s), 0),
      ...Object.fromEntries(services.map((s) => [`${s}CpuPercent`, percent(s)])),
      workerPeakRssMb: rss.length ? Math.max(...rss) : 0,
    }
  }

  cpuByGroup() {
    const totals = {}
    for (const [group, pids] of Object.entries(this.groups)) {
      totals[group] = pids.reduce((sum, pid) => sum + ((readProcess(pid) || {}).cpuSeconds || 0), 0)
    }
    return totals
  }
}

module.exports = { ResourceMeter, findStackProcesses, readProcess }
