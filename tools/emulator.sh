#!/usr/bin/env bash
# Start or stop the GCP API emulator in lab mode for a lab (default: demo).
# State: .lab/<lab>/emulator/{pid,port,url,env,service-account.json,log}.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?usage: tools/emulator.sh start|stop LAB}
lab=${2:-demo}
dir=.lab/$lab/emulator

stop() {
  if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    kill "$(cat "$dir/pid")"
    echo "emulator: stopped"
  fi
  rm -f "$dir/pid"
}

case $cmd in
  start)
    [[ -f .lab/$lab/instances.json ]] || { echo "emulator: ERROR: lab '$lab' is not up. Fix: make lab-up" >&2; exit 1; }
    stop
    mkdir -p "$dir"
    rm -f "$dir/port"
    .venv/bin/python -m emulator --lab ".lab/$lab" --host 127.0.0.1 --port "${NEARZERO_EMULATOR_PORT:-0}" \
      --port-file "$dir/port" --keys-dir "$dir" >"$dir/log" 2>&1 &
    echo $! > "$dir/pid"
    for _ in $(seq 100); do [[ -s $dir/port ]] && break; kill -0 "$(cat "$dir/pid")" 2>/dev/null || break; sleep 0.1; done
    if [[ ! -s $dir/port ]]; then
      echo "emulator: ERROR: it did not start:" >&2; tail -5 "$dir/log" >&2; rm -f "$dir/pid"; exit 1
    fi
    url="http://127.0.0.1:$(cat "$dir/port")"
    printf 'export NEARZERO_EMULATOR_URL=%s\nexport NEARZERO_GCP_CREDENTIALS=%s\n' "$url" "$PWD/$dir/service-account.json" > "$dir/env"
    echo "emulator: serving lab '$lab' at $url"
    ;;
  stop) stop ;;
  *) echo "usage: tools/emulator.sh start|stop LAB" >&2; exit 2 ;;
esac
