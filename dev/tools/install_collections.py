"""Install the collections pinned in requirements.yml into .collections/.

Galaxy first (short timeout); when it does not answer, the collections are taken offline
from the pinned ``ansible`` wheel on PyPI, which bundles them. Only the collections listed in
requirements.yml are extracted, and each one's version is checked against its MANIFEST.json:
a mismatch is an error, never a silent substitution. Air-gapped sites can point
``NEARZERO_ANSIBLE_WHEEL`` at a wheel they mirror.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WHEEL_SPEC = "ansible==12.3.0"
SELF_NAMESPACE, SELF_NAME = "nearzero", "gcp"


def fail(msg: str) -> None:
    print(f"collections: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def read_requirements(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text()) or {}
    out = []
    for entry in data.get("collections", []):
        if not isinstance(entry, dict) or "name" not in entry or "version" not in entry:
            fail(f"{path}: every collection needs 'name' and an exact 'version' (got {entry!r})")
        out.append((entry["name"], str(entry["version"])))
    return out


def installed_version(dest: Path, name: str) -> str | None:
    ns, coll = name.split(".")
    manifest = dest / "ansible_collections" / ns / coll / "MANIFEST.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text())["collection_info"]["version"]


def from_galaxy(req: Path, dest: Path, ansible_galaxy: str) -> bool:
    try:
        res = subprocess.run(
            [ansible_galaxy, "collection", "install", "-r", str(req), "-p", str(dest), "--timeout", "10"],
            capture_output=True, text=True, timeout=120, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"collections: Galaxy not usable ({exc}); installing offline from the ansible wheel")
        return False
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"collections: Galaxy did not answer ({last}); installing offline from the ansible wheel")
        return False
    return True


def fetch_wheel(cache: Path) -> Path:
    override = os.environ.get("NEARZERO_ANSIBLE_WHEEL")
    if override:
        if not Path(override).is_file():
            fail(f"NEARZERO_ANSIBLE_WHEEL={override} is not a file")
        return Path(override)
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("ansible-12.3.0-*.whl"))
    if not wheels:
        res = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), WHEEL_SPEC],
            capture_output=True, text=True, check=False,
        )
        wheels = sorted(cache.glob("ansible-12.3.0-*.whl"))
        if res.returncode != 0 or not wheels:
            fail(f"could not download {WHEEL_SPEC} from PyPI ({res.stderr.strip()[-300:]}). "
                 "Fix: check the PyPI mirror, or set NEARZERO_ANSIBLE_WHEEL to a local copy of the wheel.")
    return wheels[-1]


def from_wheel(wanted: list[tuple[str, str]], dest: Path, cache: Path) -> None:
    wheel = fetch_wheel(cache)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        for name, version in wanted:
            ns, coll = name.split(".")
            prefix = f"ansible_collections/{ns}/{coll}/"
            members = [n for n in names if n.startswith(prefix)]
            if not members:
                fail(f"{name} is not in {wheel.name}. Fix: remove it from requirements.yml or use Galaxy.")
            manifest = json.loads(zf.read(prefix + "MANIFEST.json"))
            got = manifest["collection_info"]["version"]
            if got != version:
                fail(f"requirements.yml pins {name} {version} but {wheel.name} carries {got}. "
                     f"Fix: pin {name} to {got} in requirements.yml, or provide a wheel that carries {version}.")
            target = dest / "ansible_collections" / ns / coll
            staging = target.with_name(coll + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            for member in members:
                rel = member[len(prefix):]
                if not rel or member.endswith("/"):
                    continue
                out = staging / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(member))
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)  # all or nothing: a half-extracted collection never stays
            print(f"collections: {name} {version} installed from {wheel.name}")


def link_self(dest: Path) -> None:
    ns_dir = dest / "ansible_collections" / SELF_NAMESPACE
    ns_dir.mkdir(parents=True, exist_ok=True)
    link = ns_dir / SELF_NAME
    target = os.path.relpath(ROOT, ns_dir)
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", default=str(ROOT / "requirements.yml"))
    parser.add_argument("--dest", default=str(ROOT / ".collections"))
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "wheels"))
    parser.add_argument("--offline", action="store_true", help="skip Galaxy, use the wheel")
    args = parser.parse_args()
    req, dest = Path(args.requirements), Path(args.dest)
    wanted = read_requirements(req)
    missing = [(n, v) for n, v in wanted if installed_version(dest, n) != v]
    if missing:
        galaxy = shutil.which("ansible-galaxy", path=str(Path(sys.executable).parent)) or "ansible-galaxy"
        if args.offline or not from_galaxy(req, dest, galaxy):
            from_wheel(missing, dest, Path(args.cache))
        for name, version in wanted:
            got = installed_version(dest, name)
            if got != version:
                fail(f"{name}: wanted {version}, found {got} after install")
    else:
        print("collections: all pinned collections already installed")
    link_self(dest)


if __name__ == "__main__":
    main()
