# nearzero: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CONTAINERS_CONF := $(CURDIR)/dev/lab/containers.conf
export PATH := $(CURDIR)/.venv/bin:$(PATH)
# Bytecode caches go under .cache, not beside the collection's sources (plugins/, roles/): the
# tests import them from this tree, and compiled copies there would carry this machine's paths.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.cache/pycache

LAB ?= demo

.PHONY: help setup demo test lint lab-image lab-up lab-down emulator-up emulator-down inventory-graph engine-artifact dr-drill

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## install everything (Debian packages as root, .venv, collections); idempotent
	@dev/tools/setup.sh

lab-image: setup ## build the lab image (cached by a hash of its recipe)
	@python dev/lab/labctl.py image

lab-up: setup ## start the demo lab (two trading hosts US, Cloud SQL primary US, replica EU)
	@python dev/lab/labctl.py up --lab $(LAB) --replace

lab-down: ## remove everything lab-up made (the emulator first: its pid file lives in the lab's state)
	@dev/tools/emulator.sh stop $(LAB)
	@if [[ -x .venv/bin/python ]]; then .venv/bin/python dev/lab/labctl.py down --lab $(LAB); \
	else python3 dev/lab/labctl.py down --lab $(LAB); fi

emulator-up: ## start the GCP API emulator in lab mode (the lab's hosts as GCE instances)
	@dev/tools/emulator.sh start $(LAB)

emulator-down: ## stop the emulator
	@dev/tools/emulator.sh stop $(LAB)

inventory-graph: ## the lab as the gce inventory plugin sees it
	@source .lab/$(LAB)/env && source .lab/$(LAB)/emulator.env && ansible-inventory -i inventory/lab --graph

engine-artifact: setup ## build dist/nearzero-engine-<version>.tar.gz and .sha256 (ENGINE_VERSION=, SIGN_KEY= to sign)
	@python dev/tools/engine_artifact.py $(if $(ENGINE_VERSION),--version $(ENGINE_VERSION)) $(if $(SIGN_KEY),--sign-key $(SIGN_KEY))

dr-drill: setup ## DR drill on the demo lab: fail over to the EU replica, report RPO and RTO
	@source .lab/$(LAB)/env && source .lab/$(LAB)/emulator.env && ansible-playbook -i inventory/lab dev/playbooks/dr_drill.yml

demo: setup ## lab up, emulator up, inventory graph, site.yml on the lab, recap
	@dev/tools/demo.sh

test: setup ## lint, unit tests and every molecule scenario, one timing line per phase
	@dev/tools/test.sh

lint: setup ## yamllint, ansible-lint (production profile), ruff
	@yamllint -s . && ansible-lint -q && ruff check .
