#!/usr/bin/env bash
# Rolling-deploy benchmark on the trading_engine scenario's lab (docs/benchmarks/deploy.md).
#
#   molecule converge -s trading_engine     # lab up, database tier, fleet on 0.2.0
#   molecule/trading_engine/files/bench_deploy.sh [ROUNDS]
#
# Each round deploys 0.1.0 then 0.2.0 (both already unpacked after the first round) to every engine
# host with playbooks/deploy.yml (serial 1, the role's default 5 s soak), while a probe inside each
# host polls /healthz/ready every 50 ms. Prints, per deploy: wall time of the playbook and, per host,
# the out-of-service windows (readiness not 200) and the longest one.
set -euo pipefail
cd "$(dirname "$0")/../../.."
source .venv/bin/activate
export CONTAINERS_CONF=$PWD/dev/lab/containers.conf ANSIBLE_NOCOLOR=1
rounds=${1:-1}
lab=mol-trading-engine
manifest=$(ls -t ~/.ansible/tmp/molecule.*.trading_engine/artifacts/manifest.json | head -1)
hosts=$(python3 -c "import yaml;print(' '.join(yaml.safe_load(open('.lab/$lab/inventory.yml'))['all']['children']['role_trading_engine']['hosts']))")
probe_s=400
for h in $hosts; do podman cp molecule/trading_engine/files/measure_outage.py "nz-$lab-$h:/usr/local/bin/measure_outage.py"; done
field() { python3 -c "import json,sys;print(json.load(open('$manifest'))[sys.argv[1]][sys.argv[2]])" "$1" "$2"; }
deploy() {
  local name=$1 out; out=$(mktemp -d)
  for h in $hosts; do
    podman exec "nz-$lab-$h" rm -f /run/measure_outage.stop
    podman exec "nz-$lab-$h" python3 /usr/local/bin/measure_outage.py 8095 "$probe_s" 0.05 /run/measure_outage.stop \
      > "$out/$h.json" &
  done
  sleep 1
  local start end
  start=$(date +%s.%N)
  ansible-playbook -i ".lab/$lab/inventory.yml" playbooks/deploy.yml -e "trading_engine_version=$(field "$name" version)" \
    -e "trading_engine_artifact=$(field "$name" path)" -e "trading_engine_artifact_sha256=$(field "$name" sha256)" \
    -e trading_engine_cpu_affinity=0-1 > "$out/deploy.log"
  end=$(date +%s.%N)
  # stop the probes once the deploy is over (they would otherwise run for probe_s)
  for h in $hosts; do podman exec "nz-$lab-$h" touch /run/measure_outage.stop; done
  wait
  printf 'deploy %s: %.1f s wall, load %s\n' "$(field "$name" version)" "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  for h in $hosts; do printf '  %s %s\n' "$h" "$(cat "$out/$h.json")"; done
  rm -rf "$out"
}
for _ in $(seq "$rounds"); do deploy v1; deploy v2; done
