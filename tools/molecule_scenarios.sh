#!/usr/bin/env bash
# Molecule scenarios in the order make test runs them: default first, the VM scenario last.
cd "$(dirname "$0")/.."
for f in molecule/*/molecule.yml; do
  s=$(basename "$(dirname "$f")")
  case $s in default|*vm*) ;; *) echo "$s" ;; esac
done | sort | { [[ -f molecule/default/molecule.yml ]] && echo default; cat; }
for f in molecule/*vm*/molecule.yml; do [[ -f $f ]] && basename "$(dirname "$f")"; done
exit 0
