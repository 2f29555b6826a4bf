#!/usr/bin/env bash
# make demo: the lab as a trading firm's fleet. Lab up, emulator up, the fleet as the gce
# inventory plugin sees it, the lab's stand-ins and playbooks/site.yml on it, the recap.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
step() { printf '\n=== demo: %s\n' "$*"; }

step "lab up (Debian 12 containers with systemd, private network, no published port)"
python dev/lab/labctl.py up --lab demo --replace
step "GCP API emulator in lab mode (the lab's containers as GCE instances)"
dev/tools/emulator.sh start demo
# shellcheck disable=SC1091
source .lab/demo/env && source .lab/demo/emulator.env
step "the fleet through the gce inventory plugin: ansible-inventory -i inventory/lab --graph"
ansible-inventory -i inventory/lab --graph
step "ansible-playbook -i inventory/lab dev/playbooks/lab_site.yml (the lab's stand-ins, then playbooks/site.yml)"
ansible-playbook -i inventory/lab dev/playbooks/lab_site.yml
step "done. The lab stays up: 'make lab-down' removes it."
