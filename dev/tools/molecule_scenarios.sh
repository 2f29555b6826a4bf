#!/usr/bin/env bash
# Molecule scenarios in the order make test starts them: the longest first (measured, seconds on
# 2 cores), so the last to start are short and the side-by-side run ends evenly. A scenario not
# listed here is started after those listed.
cd "$(dirname "$0")/../.."
longest_first=(default trading_engine low_latency_vm dr_region security cloudsql dr_switchover mitogen pitr nvidia_gpu low_latency)
for s in "${longest_first[@]}"; do
  [[ -f molecule/$s/molecule.yml ]] && echo "$s"
done
for f in molecule/*/molecule.yml; do
  s=$(basename "$(dirname "$f")")
  [[ " ${longest_first[*]} " == *" $s "* ]] || echo "$s"
done
exit 0
