#!/usr/bin/env bash
# Start or stop the GCP API emulator in lab mode for a lab (default: demo). It serves the lab's
# containers as GCE instances and writes service-account.json and emulator.json into .lab/<lab>/;
# this script keeps emulator.{pid,port,log,env} beside them.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmd=${1:?usage: dev/tools/emulator.sh start|stop LAB}
lab=${2:-demo}
dir=.lab/$lab

stop() {
  if [[ -f $dir/emulator.pid ]] && kill -0 "$(cat "$dir/emulator.pid")" 2>/dev/null; then
    kill "$(cat "$dir/emulator.pid")"
    echo "emulator: stopped"
  fi
  rm -f "$dir/emulator.pid"
}

case $cmd in
  start)
    [[ -f $dir/instances.json ]] || { echo "emulator: ERROR: lab '$lab' is not up. Fix: make lab-up" >&2; exit 1; }
    stop
    rm -f "$dir/emulator.port"
    PYTHONPATH=dev setsid .venv/bin/python -m emulator --lab "$dir" --host 127.0.0.1 --port "${NEARZERO_EMULATOR_PORT:-0}" \
      --port-file "$dir/emulator.port" >"$dir/emulator.log" 2>&1 &
    echo $! > "$dir/emulator.pid"
    for _ in $(seq 300); do
      [[ -s $dir/emulator.port ]] && break
      kill -0 "$(cat "$dir/emulator.pid")" 2>/dev/null || break
      sleep 0.1
    done
    if [[ ! -s $dir/emulator.port ]]; then
      echo "emulator: ERROR: it did not start:" >&2; tail -5 "$dir/emulator.log" >&2; rm -f "$dir/emulator.pid"; exit 1
    fi
    url="http://127.0.0.1:$(cat "$dir/emulator.port")"
    printf 'export NEARZERO_EMULATOR_URL=%s NEARZERO_LAB_DIR=%s\n' "$url" "$PWD/$dir" > "$dir/emulator.env"
    echo "emulator: serving lab '$lab' at $url"
    ;;
  stop) stop ;;
  *) echo "usage: dev/tools/emulator.sh start|stop LAB" >&2; exit 2 ;;
esac
