#!/usr/bin/env bash
# `npm run package`: installable tarballs in dist/ —
#   flowcraft-kafka-native-<version>.tgz               the package (JS entries, typings, and the
#                                                      Rust sources for a build when no binary fits)
#   flowcraft-kafka-native-linux-x64-gnu-<version>.tgz the release-built addon for that platform,
#                                                      an optionalDependency of the package
# Installing both needs no cargo and no C compiler. Only x86_64-unknown-linux-gnu is built here
# (see README, "Installing").
set -euo pipefail
cd "$(dirname "$0")/.."

platform=linux-x64-gnu
triple=x86_64-unknown-linux-gnu
host=$(rustc -vV | sed -n 's/^host: //p')
if [ "$host" != "$triple" ]; then
  echo "npm run package builds the $platform binary on an $triple host; this host is $host" >&2
  exit 1
fi

version=$(node -p "require('./package.json').version")
stage=dist/.stage
rm -rf dist
mkdir -p "$stage/build" "$stage/main" "$stage/$platform"

echo "release build (fat LTO) for $triple"
# Loader and typings go to the staging directory: the checkout's committed ones stay as they are.
npx napi build --platform --release --target "$triple" --output-dir "$stage/build" \
  --js binding.js --dts binding.d.ts
binary="$stage/build/flowcraft-kafka-native.$platform.node"
test -f "$binary"

# The binary's package: npm/<platform>/package.json, its version kept equal to the main one.
cp npm/$platform/package.json npm/$platform/README.md "$stage/$platform/"
cp "$binary" "$stage/$platform/"
node scripts/package-manifest.js binary "$stage/$platform/package.json" "$version"

# The main package: the checkout's files (package.json `files`), a manifest without the
# development scripts and with the binary as an optional dependency.
npm pack --silent --ignore-scripts --pack-destination "$stage" > /dev/null
tar -xzf "$stage/flowcraft-kafka-native-$version.tgz" -C "$stage/main" --strip-components=1
rm "$stage/flowcraft-kafka-native-$version.tgz"
node scripts/package-manifest.js main "$stage/main/package.json" "$version"

(cd "$stage/$platform" && npm pack --silent --ignore-scripts --pack-destination ../.. > /dev/null)
(cd "$stage/main" && npm pack --silent --ignore-scripts --pack-destination ../.. > /dev/null)
rm -rf "$stage"
ls -l dist/
