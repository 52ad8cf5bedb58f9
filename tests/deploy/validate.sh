#!/usr/bin/env bash
# Offline deployment checks (no cluster, no Docker engine here): Kubernetes manifests against the API
# schemas, the collector config, the Dockerfile lint and its runtime packages against what the built
# binary links, the ConfigMap and host configs accepted by the agent, and the host install staged.
#   tests/deploy/validate.sh <path to otelbpf-agent>
set -euo pipefail
AGENT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/otelbpf-deploy.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ ! -d "$HERE/node_modules/kubernetes-models" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 || { cat "$WORK/npm.log"; fail "npm ci"; }
fi

CONFIGMAP_OUT="$WORK/configmap.yaml" GATEWAY_CONFIG_OUT="$WORK/gateway.yaml" node "$HERE/validate_manifests.js" "$ROOT"
"$AGENT" --config "$WORK/configmap.yaml" --print-config >/dev/null || fail "the ConfigMap's config is refused by the agent"
"$AGENT" --config "$WORK/gateway.yaml" --print-config >/dev/null || fail "the gateway's config is refused by the agent"
"$AGENT" --config "$ROOT/deploy/host/otelbpf.yaml" --print-config >/dev/null || fail "the host config is refused"

# Dockerfile: lint, and every runtime library the binary links comes from a package the final stage installs.
(cd "$HERE" && npx --no-install dockerfilelint "$ROOT/Dockerfile") || fail "dockerfilelint"
runtime=$(awk '/^FROM debian:bookworm-slim/{f=1} f' "$ROOT/Dockerfile")
for pkg in $(ldd "$AGENT" | awk '/=>/{print $3}' | while read -r lib; do dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"; done \
             | cut -d: -f1 | sort -u); do
  case $pkg in libc6|libgcc-s1|libstdc++6|libssl3|libabsl*|libc-ares2|libre2-*|libgrpc29) continue ;; esac  # base image or pulled in by libgrpc++
  grep -qw -- "$pkg" <<<"$runtime" || fail "Dockerfile runtime stage lacks $pkg, which otelbpf-agent links"
done
for src in $(awk '$1 == "COPY" && $2 !~ /^--from/ {for (i = 2; i < NF; i++) print $i}' "$ROOT/Dockerfile"); do
  [ -e "$ROOT/$src" ] || fail "Dockerfile copies $src, which does not exist"
done

# Host install, staged: binary, unit and config land, and systemd accepts the unit.
BUILD_DIR=$(dirname "$AGENT") DESTDIR="$WORK/stage" "$ROOT/scripts/install" >/dev/null
for f in usr/local/bin/otelbpf-agent etc/systemd/system/otelbpf-agent.service etc/otelbpf/otelbpf.yaml; do
  [ -e "$WORK/stage/$f" ] || fail "scripts/install did not stage $f"
done
# systemd-analyze checks that ExecStart exists: point a copy of the unit at the staged binary.
sed "s|/usr/local/bin/otelbpf-agent|$WORK/stage/usr/local/bin/otelbpf-agent|" \
  "$WORK/stage/etc/systemd/system/otelbpf-agent.service" >"$WORK/otelbpf-agent.service"
# It exits 0 on parse warnings, so any complaint at all fails the check.
if ! systemd-analyze verify --man=no "$WORK/otelbpf-agent.service" 2>"$WORK/verify.log" || [ -s "$WORK/verify.log" ]; then
  cat "$WORK/verify.log"
  fail "systemd-analyze rejects the unit"
fi
echo "deploy checks: ok"
