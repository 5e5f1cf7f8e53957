#!/usr/bin/env node
// The package's `install` step (added to the published manifest by scripts/package.sh; a
// checkout builds in `prepare` instead). The prebuilt binary of this platform, when npm
// installed one, is all that is needed; otherwise the addon is built here from the Rust
// sources shipped in the package, which needs cargo and a C toolchain.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

function loads() {
  try {
    require(root)
    return undefined
  } catch (error) {
    return error
  }
}

/** The napi-rs name of this platform (the loader's file suffix), or undefined. */
function platformSuffix() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'darwin') return `darwin-${arch}`
  if (platform === 'win32' && (arch === 'x64' || arch === 'arm64')) return `win32-${arch}-msvc`
  return undefined
}

function fail(message) {
  process.stderr.write(`flowcraft-kafka-native: ${message}\n`)
  process.exit(1)
}

function hostTriple() {
  const rustc = spawnSync('rustc', ['-vV'], { encoding: 'utf8' })
  if (rustc.error || rustc.status !== 0) return undefined
  return /^host: (.+)$/m.exec(rustc.stdout)?.[1]
}

function buildFromSource(suffix, loadError) {
  const triple = hostTriple()
  if (!triple) {
    fail(
      `no prebuilt binary for ${suffix} is installed (${loadError.message.split('\n')[0]}), and ` +
        'building one from source needs Rust (cargo, rustc >= 1.88) and a C toolchain (cc, make, ' +
        'pkg-config, OpenSSL headers): install them and run npm install again. Prebuilt binaries ' +
        'exist for linux-x64-gnu.',
    )
  }
  process.stderr.write(`flowcraft-kafka-native: no prebuilt binary for ${suffix}; building from source for ${triple} (several minutes)\n`)
  const ownTarget = !process.env.CARGO_TARGET_DIR
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
  const cargo = spawnSync(
    'cargo',
    ['build', '--release', '--lib', '--locked', '--target', triple, '--manifest-path', path.join(root, 'Cargo.toml')],
    { stdio: 'inherit', env: { ...process.env, CARGO_TARGET_DIR: targetDir } },
  )
  if (cargo.error || cargo.status !== 0) fail(`cargo build failed (${cargo.error?.message ?? `exit ${cargo.status}`}); see its output above`)
  const library = { darwin: 'libflowcraft_kafka_native.dylib', win32: 'flowcraft_kafka_native.dll' }[process.platform] ?? 'libflowcraft_kafka_native.so'
  const built = path.join(targetDir, triple, 'release', library)
  fs.copyFileSync(built, path.join(root, `flowcraft-kafka-native.${suffix}.node`))
  // The build tree is gigabytes; only the addon is kept.
  if (ownTarget) fs.rmSync(targetDir, { recursive: true, force: true })
}

const loadError = loads()
if (loadError) {
  const suffix = platformSuffix()
  if (!suffix) fail(`${process.platform}-${process.arch} is not a platform this addon builds for`)
  buildFromSource(suffix, loadError)
  const again = loads()
  if (again) fail(`the addon built from source does not load: ${again.message}`)
}
