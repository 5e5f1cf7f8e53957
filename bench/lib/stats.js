// Percentiles (linear interpolation between closest ranks) and medians; null for no data.
'use strict'

function percentile(values, p) {
  if (!values.length) return null
  const sorted = Float64Array.from(values).sort()
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.ceil(rank)
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
}

function median(values) {
  return percentile(values, 50)
}

module.exports = { percentile, median }
