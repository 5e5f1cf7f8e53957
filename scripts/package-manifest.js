#!/usr/bin/env node
// scripts/package.sh's manifest step: `main <package.json> <version>` turns the checkout's
// manifest into the published one (no development scripts or dependencies; the prebuilt
// binary as an optional dependency; the source build as the fallback `install` step);
// `binary <package.json> <version>` sets the binary package's version to the main one.
'use strict'

const fs = require('node:fs')

const BINARY_PACKAGES = ['flowcraft-kafka-native-linux-x64-gnu']

const [kind, file, version] = process.argv.slice(2)
if (!['main', 'binary'].includes(kind) || !file || !version) {
  process.stderr.write('usage: package-manifest.js main|binary <package.json> <version>\n')
  process.exit(2)
}
const manifest = JSON.parse(fs.readFileSync(file, 'utf8'))
manifest.version = version
if (kind === 'main') {
  delete manifest.devDependencies
  delete manifest.napi
  manifest.scripts = { install: 'node scripts/install.js' }
  manifest.optionalDependencies = Object.fromEntries(BINARY_PACKAGES.map((name) => [name, version]))
}
fs.writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`)
