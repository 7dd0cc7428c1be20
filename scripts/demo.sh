#!/usr/bin/env bash
# The README's first command: install pytaaad into .venv, start a daemon on a private
# socket, submit the shipped sample config, follow the job to its end, show where the
# PNGs are, and stop the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
config=${1:-configs/sample_hmas.json}

echo "== installing pytaaad into $repo/.venv"
python3 -m venv .venv
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq .

run=$(mktemp -d)
export PYTAAAD_SOCKET=$run/pytaaad.sock
cleanup() {
    if [ -n "${daemon:-}" ] && kill -0 "$daemon" 2>/dev/null; then
        .venv/bin/pytaaa-ctl shutdown >/dev/null 2>&1 || kill "$daemon"
        wait "$daemon" || true
    fi
    rm -rf "$run"
}
trap cleanup EXIT

echo "== starting a daemon on $PYTAAAD_SOCKET (log: $run/daemon.log)"
mkdir -p out
.venv/bin/pytaaad --state-dir "$run/state" --workers 2 \
    --config-root "$repo/configs" --output-root "$repo/out" 2>"$run/daemon.log" &
daemon=$!
for _ in $(seq 100); do
    .venv/bin/pytaaa-ctl ping >/dev/null 2>&1 && break
    kill -0 "$daemon" 2>/dev/null || { cat "$run/daemon.log"; exit 1; }
    sleep 0.2
done

echo "== submitting $config and waiting for it"
.venv/bin/pytaaa-ctl submit --force --wait "$config"
.venv/bin/pytaaa-ctl status

echo "== the figures"
.venv/bin/python - "$config" <<'PY'
import sys
from pytaaad.config import load_settings

settings = load_settings(sys.argv[1])
for name in ("PyTAAA_monteCarloBacktest.png", "PyTAAA_monteCarloBacktestRecent.png"):
    print(settings.webpage / name)
PY
echo "== stopping the daemon"
