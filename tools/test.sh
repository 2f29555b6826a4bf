#!/usr/bin/env bash
# make test: every check the project has, one timed line per phase. All phases run (so one
# report shows every failure); the exit status is non-zero when any of them failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

failed=()
summary=()
phase() {
  local name=$1; shift
  local start=$SECONDS
  printf '\n=== phase %s: %s\n' "$name" "$*"
  if "$@"; then
    summary+=("phase $name: ok in $((SECONDS - start)) s")
  else
    summary+=("phase $name: FAILED in $((SECONDS - start)) s")
    failed+=("$name")
  fi
  printf '%s\n' "${summary[-1]}"
}

sysctl_snapshot() { sysctl -n vm.swappiness kernel.numa_balancing net.core.busy_poll net.core.busy_read 2>/dev/null | tr '\n' ' '; }
kernel_before=$(sysctl_snapshot)

phase yamllint yamllint -s .
phase ruff ruff check .
phase ansible-lint ansible-lint -q
phase pytest pytest -q
for scenario in $(tools/molecule_scenarios.sh); do
  phase "molecule-$scenario" molecule test -s "$scenario"
done

kernel_after=$(sysctl_snapshot)
if [[ "$kernel_before" != "$kernel_after" ]]; then
  summary+=("phase host-kernel: FAILED: this machine's kernel settings changed ($kernel_before -> $kernel_after)")
  failed+=(host-kernel)
else
  summary+=("phase host-kernel: ok (vm.swappiness kernel.numa_balancing net.core.busy_poll net.core.busy_read unchanged: $kernel_after)")
fi

printf '\n=== summary\n'
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  printf 'make test: FAILED phases: %s\n' "${failed[*]}"
  exit 1
fi
echo "make test: all phases passed"
