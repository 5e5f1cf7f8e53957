// The shared conformance suite on InMemoryAdapter, one job at a time, oldest first, as
// the suite's README prescribes.
import { InMemoryAdapter } from '../../index'
import { conformanceSuite } from '../support/conformance/suite'

conformanceSuite('InMemoryAdapter', (runtimeOptions) => new InMemoryAdapter({ runtimeOptions, concurrency: 1 }))
