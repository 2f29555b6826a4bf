#!/usr/bin/env bash
# make setup: everything nearzero needs on a fresh Debian 12 machine. Idempotent: a second run
# checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."

APT_PACKAGES=(podman runc debootstrap graphviz qemu-system-x86 qemu-utils fdisk openssh-client make gcc)
PYTHON=${PYTHON:-python3}

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# 1. Debian packages for the lab (root only).
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "Debian packages missing: ${missing[*]}. Fix: run 'make setup' as root, or 'sudo apt-get install ${missing[*]}'."
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq || die "apt-get update failed: is the Debian mirror reachable? Fix the apt sources, then re-run 'make setup'."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

# 2. Python virtual environment with the pinned packages (re-installed only when requirements.txt changes).
command -v "$PYTHON" >/dev/null || die "$PYTHON not found. Fix: install Python 3.11 (apt-get install python3 python3-venv)."
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  say "creating .venv and installing requirements.txt"
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv || die "python3 -m venv failed. Fix: apt-get install python3-venv."
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2) \
    || die "pip install failed: is PyPI reachable? Fix the pip index, then re-run 'make setup'."
  echo "$want" > "$stamp"
else
  say ".venv up to date"
fi

# 3. Collections pinned in requirements.yml (Galaxy, or offline from the ansible wheel).
.venv/bin/python dev/tools/install_collections.py

say "done"
