// Fetches `/metrics` over HTTP and reads it with the Prometheus project's own Python
// client parser (`prometheus_client.parser`, Debian's python3-prometheus-client): it
// refuses text that is not valid exposition format.
import { execFileSync } from 'node:child_process'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

interface Family {
  name: string
  type: string
  samples: Sample[]
}

const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
families = [
    {"name": f.name, "type": f.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": "+Inf" if math.isinf(s.value) else s.value}
        for s in f.samples]}
    for f in text_string_to_metric_families(sys.stdin.read())]
json.dump(families, sys.stdout)
`

/** Debian's interpreter, which has the parser, even when another python3 comes first. */
const PYTHON = '/usr/bin/python3'

export function parseExposition(text: string): Family[] {
  return JSON.parse(execFileSync(PYTHON, ['-c', PARSE], { input: text, encoding: 'utf8' })) as Family[]
}

export interface Scrape {
  text: string
  /** The family's type (counter, gauge, histogram), or undefined when it is not exposed. */
  type(name: string): string | undefined
  /** The sample named `name` whose labels include `labels` (undefined when there is none). */
  value(name: string, labels?: Record<string, string>): number | undefined
  /** Sum over every sample named `name` whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number
  histogram(name: string, labels: Record<string, string>): { count: number; sum: number; buckets: Record<string, number> } | undefined
  /** The label sets of the samples named `name`. */
  labelSets(name: string): Array<Record<string, string>>
}

export async function scrape(address: string): Promise<Scrape> {
  const response = await fetch(`http://${address}/metrics`)
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`)
  const contentType = response.headers.get('content-type') ?? ''
  if (!contentType.startsWith('text/plain')) throw new Error(`unexpected content type ${contentType}`)
  const text = await response.text()
  const families = parseExposition(text)
  const samples = families.flatMap((family) => family.samples)
  const matching = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return {
    text,
    // The parser names a counter's family without its `_total` suffix.
    type: (name) => families.find((f) => f.name === name || `${f.name}_total` === name)?.type,
    value: (name, labels) => matching(name, labels)[0]?.value,
    sum: (name, labels) => matching(name, labels).reduce((total, s) => total + s.value, 0),
    histogram: (name, labels) => {
      const buckets = matching(`${name}_bucket`, labels)
      if (buckets.length === 0) return undefined
      return {
        count: matching(`${name}_count`, labels)[0]?.value ?? NaN,
        sum: matching(`${name}_sum`, labels)[0]?.value ?? NaN,
        buckets: Object.fromEntries(buckets.map((b) => [b.labels.le, b.value])),
      }
    },
    labelSets: (name) => matching(name).map((s) => s.labels),
  }
}
