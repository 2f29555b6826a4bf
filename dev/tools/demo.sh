#!/usr/bin/env bash
# make demo: from an empty project to a configured trading fleet, on the lab. The lab's network only;
# the emulator in lab mode (an empty project nearzero-lab); playbooks/provision.yml with the lab's
# architecture (dev/lab/architecture.yml), whose instance and Cloud SQL inserts start the lab's
# containers; the fleet as the gce inventory plugin then sees it (it must be what provision.yml made);
# the lab's stand-ins and playbooks/site.yml on it; the recap.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
step() { printf '\n=== demo: %s\n' "$*"; }

step "lab up: the lab's network only (its hosts come from provision.yml)"
python dev/lab/labctl.py up --lab demo --replace --network-only
step "GCP API emulator in lab mode (project nearzero-lab, empty; on loopback, and on the lab network's gateway for the lab's hosts)"
dev/tools/emulator.sh start demo
# shellcheck disable=SC1091
source .lab/demo/env && source .lab/demo/emulator.env
step "ansible-playbook -i inventory/lab playbooks/provision.yml -e @dev/lab/architecture.yml (empty project -> architecture)"
# provision.yml runs on the controller (implicit localhost, which no inventory group reaches): the
# emulator's key and endpoints as the GCP_* environment the modules fall back to.
GCP_AUTH_KIND=serviceaccount GCP_SERVICE_ACCOUNT_FILE="$NEARZERO_LAB_DIR/service-account.json" \
  GCP_COMPUTE_ENDPOINT="$NEARZERO_EMULATOR_URL" GCP_SERVICENETWORKING_ENDPOINT="$NEARZERO_EMULATOR_URL" \
  GCP_SQLADMIN_ENDPOINT="$NEARZERO_EMULATOR_URL" \
  ansible-playbook -i inventory/lab playbooks/provision.yml -e @dev/lab/architecture.yml
step "the fleet through the gce inventory plugin: ansible-inventory -i inventory/lab --graph"
ansible-inventory -i inventory/lab --graph
# The hosts the inventory finds are the ones provision.yml created: the architecture's fleet and Cloud SQL.
ansible-inventory -i inventory/lab --list | python dev/lab/demo_fleet_check.py dev/lab/architecture.yml
step "ansible-playbook -i inventory/lab dev/playbooks/lab_site.yml -e @dev/lab/architecture.yml (stand-ins, then site.yml)"
ansible-playbook -i inventory/lab dev/playbooks/lab_site.yml -e @dev/lab/architecture.yml
step "monitoring: Prometheus sees every target up and each Cloud SQL instance RUNNABLE through the SQL Admin API, Alertmanager holds no alert (dev/playbooks/lab_monitoring_check.yml)"
ansible-playbook -i inventory/lab dev/playbooks/lab_monitoring_check.yml
step "done. The lab stays up: 'make lab-down' removes it."
