"""execution-environment.yml: ansible-builder's build context installs nearzero.gcp from its tarball.

No registry is reachable here, so the image itself is not built. The test builds the tarball,
runs ``ansible-builder create`` and checks the context it writes; then it replays the context's
collection install (the galaxy stage, offline: the tarball only) and runs the context's own
``introspect.py`` on the result, which is how the image gets the collection's Python packages.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent


def _run(*cmd, cwd, **env):
    """Run a tool of this virtual environment with no Ansible setting of this machine or checkout.

    HOME is a fresh folder (the working folder unless given), so a nearzero.gcp someone installed
    under ~/.ansible cannot make ``ansible-galaxy collection install`` answer "already installed".
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    clean["HOME"] = str(cwd)
    clean.update(env)
    proc = subprocess.run([str(BIN / cmd[0]), *map(str, cmd[1:])], cwd=cwd, env=clean, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """(workdir, build context, tarball): the EE file beside a dist/ with the tarball, as in a checkout."""
    work = tmp_path_factory.mktemp("ee")
    _run("ansible-galaxy", "collection", "build", ROOT, "--output-path", work / "dist", cwd=work)
    (tarball,) = (work / "dist").glob("nearzero-gcp-*.tar.gz")
    shutil.copy(ROOT / "execution-environment.yml", work)
    _run("ansible-builder", "create", "-f", work / "execution-environment.yml", "-c", work / "context", cwd=work)
    return work, work / "context", tarball


def test_the_tarball_named_is_the_one_galaxy_yml_builds(context):
    _, _, tarball = context
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert tarball.name == f"nearzero-gcp-{version}.tar.gz"
    assert [f["src"] for f in ee["additional_build_files"]] == [f"dist/{tarball.name}"], (
        "execution-environment.yml names another tarball than galaxy.yml's version builds: change both together")


def test_the_context_carries_the_tarball_and_the_requirements(context):
    _, ctx, tarball = context
    build = ctx / "_build"
    requirements = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    files = [r for r in requirements if r.get("type") == "file"]
    assert len(files) == 1, requirements
    # The Containerfile installs from WORKDIR /build, a copy of _build: the name resolves there.
    shipped = build / files[0]["name"]
    assert shipped.is_file() and _sha256(shipped) == _sha256(tarball)
    # The dependencies are pinned to what the tests run with.
    pinned = {r["name"]: str(r["version"]) for r in requirements if r.get("type") != "file"}
    tested = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    tested = {r["name"]: str(r["version"]) for r in tested}
    assert pinned == tested
    containerfile = (ctx / "Containerfile").read_text()
    assert 'ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in containerfile
    assert "COPY _build /build" in containerfile and "WORKDIR /build" in containerfile
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "RUN ansible-doc -t inventory nearzero.gcp.gce > /dev/null" in containerfile
    # Nothing of the repository travels besides the tarball.
    assert {p.name for p in build.iterdir()} == {"collections", "requirements.yml", "scripts"}


def test_the_installed_collection_brings_its_python_packages(context, tmp_path):
    _, ctx, _ = context
    build = ctx / "_build"
    requirements = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    (entry,) = [r["name"] for r in requirements if r.get("type") == "file"]
    collections = tmp_path / "usr-share-ansible-collections"
    # The galaxy stage, offline (the dependencies would come from Galaxy or Automation Hub).
    _run("ansible-galaxy", "collection", "install", entry, "--no-deps", "-p", collections, cwd=build,
         HOME=str(tmp_path), ANSIBLE_COLLECTIONS_PATH=str(collections))
    installed = collections / "ansible_collections" / "nearzero" / "gcp"
    assert (installed / "plugins" / "inventory" / "gce.py").is_file()
    assert not (installed / "dev").exists() and not (installed / "tests").exists()
    # The builder stage: the context's own introspection reads meta/execution-environment.yml.
    out = _run("python", build / "scripts" / "introspect.py", "introspect", collections, cwd=tmp_path)
    wanted = [line for line in (ROOT / "meta" / "ee-requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert {"google-auth==2.63.0", "requests==2.34.2"} <= set(wanted)
    for requirement in wanted:
        assert f"{requirement}  # from collection nearzero.gcp" in out, out
