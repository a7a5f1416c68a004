#!/usr/bin/env bash
# Stop the daemons .ci/slurm_up.sh started, by the pids it wrote (munged only if it started it).
set -uo pipefail
ROOT=${DERMSYNTH_SLURM_ROOT:-/tmp/dermsynth-slurm}
[ -s "$ROOT/pids" ] || { echo "slurm_down: nothing to stop ($ROOT/pids)"; exit 0; }
if [ -f "$ROOT/env" ]; then
    . "$ROOT/env"
    scancel --user "$(id -un)" 2>/dev/null || true
fi
pids=$(cat "$ROOT/pids")
kill $pids 2>/dev/null || true
for _ in $(seq 50); do
    alive=""
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
    [ -z "$alive" ] && break
    sleep 0.1
done
[ -n "${alive:-}" ] && echo "slurm_down: still running:$alive" >&2
rm -f "$ROOT/pids" "$ROOT/munged.pid"
echo "slurm_down: stopped $pids"
