#!/usr/bin/env bash
# Fetch ONNX Runtime's shared library from the npm package onnxruntime-node
# (which ships it prebuilt) into lib/onnxruntime/. The version must match
# the C API headers of github.com/yalue/onnxruntime_go in go.mod (v1.27.0
# uses ONNX Runtime 1.24.1). Usage: scripts/fetch-onnxruntime.sh [DEST_DIR]
set -euo pipefail
ORT_VERSION="${ORT_VERSION:-1.24.1}"
dest="${1:-lib/onnxruntime}"
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) plat=linux/x64 ;;
  Linux/aarch64) plat=linux/arm64 ;;
  Darwin/arm64) plat=darwin/arm64 ;;
  *) echo "fetch-onnxruntime: no prebuilt ONNX Runtime for $(uname -s)/$(uname -m) in onnxruntime-node" >&2; exit 1 ;;
esac
lib=libonnxruntime.so.1
[ "${plat%%/*}" = darwin ] && lib=libonnxruntime.1.dylib
if [ -f "$dest/$lib" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$ORT_VERSION" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching ONNX Runtime $ORT_VERSION (npm onnxruntime-node@$ORT_VERSION)" >&2
# npm pack downloads the tarball without running the package's install
# scripts (which would try to fetch CUDA libraries from the internet).
(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
tar -xzf "$tmp"/onnxruntime-node-"$ORT_VERSION".tgz -C "$tmp" "package/bin/napi-v6/$plat/$lib"
mkdir -p "$dest"
install -m 0644 "$tmp/package/bin/napi-v6/$plat/$lib" "$dest/$lib.tmp"
mv "$dest/$lib.tmp" "$dest/$lib"
echo "$ORT_VERSION" > "$dest/VERSION"
echo "ONNX Runtime $ORT_VERSION: $dest/$lib" >&2
