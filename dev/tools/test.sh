#!/usr/bin/env bash
# make test: every check the project has, one timed line per phase. All phases run (so one
# report shows every failure); the exit status is non-zero when any of them failed.
#
# The linters run one after the other, beside the longest scenario. pytest and the molecule scenarios
# run NEARZERO_TEST_JOBS at a time (default 2): two side by side keep this 2-core machine's CPUs
# busy (docs/benchmarks/make-test.md), and every scenario has a lab of its own (containers,
# networks, emulator, fact cache), so two share the machine without meeting. Each one's output
# is printed whole when it ends, under its phase line.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"

jobs_max=${NEARZERO_TEST_JOBS:-2}
if ! [[ $jobs_max =~ ^[1-9][0-9]*$ ]]; then
  echo "make test: NEARZERO_TEST_JOBS is '$jobs_max', not a whole number of 1 or more. Fix: unset it, or set it to 1 (one phase at a time) or more." >&2
  exit 2
fi
logs=.cache/test-logs
rm -rf "$logs" && mkdir -p "$logs"

failed=()
summary=()
record() {  # name, exit status, seconds
  if (($2 == 0)); then summary+=("phase $1: ok in $3 s"); else summary+=("phase $1: FAILED in $3 s"); failed+=("$1"); fi
  printf '%s\n' "${summary[-1]}"
}

phase() {
  local name=$1; shift
  local start=$SECONDS rc=0
  printf '\n=== phase %s: %s\n' "$name" "$*"
  "$@" || rc=$?
  record "$name" "$rc" "$((SECONDS - start))"
}

declare -A running=() started=()
start_job() {
  local name=$1; shift
  printf '\n=== phase %s: started: %s\n' "$name" "$*"
  "$@" >"$logs/$name.log" 2>&1 </dev/null &
  running[$!]=$name
  started[$name]=$SECONDS
}
finish_job() {
  local pid rc=0
  wait -n -p pid "${!running[@]}" || rc=$?
  local name=${running[$pid]}
  unset "running[$pid]"
  printf '\n=== phase %s: output (%s)\n' "$name" "$logs/$name.log"
  cat "$logs/$name.log"
  skipped_tests "$name" || rc=1
  record "$name" "$rc" "$((SECONDS - ${started[$name]}))"
}
# A skipped test proves nothing and hides what it was for: a pytest run (the suite, or a scenario's
# testinfra verify) that reports any skipped test fails its phase.
skipped_tests() {
  local text line
  text=$(sed 's/\x1b\[[0-9;]*m//g' "$logs/$1.log")
  line=$(grep -E '(^|[ ,=])[0-9]+ skipped(,.*)? in [0-9.]+s' <<<"$text" | head -n 1)
  [[ -z $line ]] && return 0
  printf '%s: %s. A skipped test fails make test: make it run on what it is about (e.g. its own hosts,\n' \
    "$1" "$(grep -oE '[0-9]+ skipped' <<<"$line")"
  printf '  not all of them with a skip on the rest), or give it what it needs (make setup). Why each skipped:\n'
  grep -oE 'SKIPPED \[[0-9]+\] .*' <<<"$text" | head -n 10 | sed 's/^/  /'
  return 1
}
stop_jobs() {
  ((${#running[@]})) && kill "${!running[@]}" 2>/dev/null
  exit 130
}
trap stop_jobs INT TERM

sysctl_snapshot() { sysctl -n vm.swappiness kernel.numa_balancing net.core.busy_poll net.core.busy_read 2>/dev/null | tr '\n' ' '; }
kernel_before=$(sysctl_snapshot)

# Longest first, so the last ones to start are short (dev/tools/molecule_scenarios.sh gives the order);
# pytest (550-670 s beside a scenario) goes third, where its measured length puts it; ansible-test sanity (the
# certified-collection gate, no ignore file; dev/tools/sanity.py) right after it.
queue=()
for scenario in $(dev/tools/molecule_scenarios.sh); do
  queue+=("molecule-$scenario")
done
queue=("${queue[@]:0:2}" pytest sanity "${queue[@]:2}")
start_queued() {
  case $1 in
    pytest) start_job pytest pytest -q --durations=15 ;;
    sanity) start_job sanity python dev/tools/sanity.py ;;
    *) start_job "$1" molecule test -s "${1#molecule-}" ;;
  esac
}

# The linters use one core: the longest scenario starts first and runs beside them (they read the
# tracked tree; a scenario writes only under .lab/, .cache/ and molecule's own directory, which
# the linters and the collection build skip).
start_queued "${queue[0]}"
phase yamllint yamllint -s .
phase ruff ruff check .
phase ansible-lint ansible-lint -q
# The collection as a user gets it: built, installed from the tarball into an empty path and used
# (ansible-doc, ansible-inventory and a module against the emulator, site.yml's syntax) from a
# temporary directory, with this repository on no path.
phase collection python dev/tools/collection_check.py

for name in "${queue[@]:1}"; do
  while ((${#running[@]} >= jobs_max)); do finish_job; done
  start_queued "$name"
done
while ((${#running[@]})); do finish_job; done

kernel_after=$(sysctl_snapshot)
if [[ "$kernel_before" != "$kernel_after" ]]; then
  summary+=("phase host-kernel: FAILED: this machine's kernel settings changed ($kernel_before -> $kernel_after)")
  failed+=(host-kernel)
else
  summary+=("phase host-kernel: ok (vm.swappiness kernel.numa_balancing net.core.busy_poll net.core.busy_read unchanged: $kernel_after)")
fi

printf '\n=== summary (%s phases at a time after the linters; %s s in all)\n' "$jobs_max" "$SECONDS"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  # Where each failed phase broke, right under the summary: a CI report that keeps only the end of
  # the output still names the cause (the whole log is printed above, under the phase's line).
  for name in "${failed[@]}"; do
    [[ -f $logs/$name.log ]] || continue
    printf '\n=== why %s failed (its first failure lines, then its last lines; whole log above)\n' "$name"
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$name.log" |
      grep -E -m 12 'fatal:|FAILED!|ERROR|Error:|AssertionError|assert |[0-9]+ failed' || true
    echo '...'
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$name.log" | tail -n 25
  done
  printf '\nmake test: FAILED phases: %s\n' "${failed[*]}"
  exit 1
fi
echo "make test: all phases passed"
