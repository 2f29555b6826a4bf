"""ansible-builder turns execution-environment.yml into a build context carrying nearzero."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def test_ansible_builder_create(tmp_path):
    builder = Path(sys.executable).parent / "ansible-builder"
    ctx = tmp_path / "context"
    res = subprocess.run(
        [str(builder), "create", "-f", str(ROOT / "execution-environment.yml"), "-c", str(ctx)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    containerfile = (ctx / "Containerfile").read_text()
    assert "COPY _build/nearzero /usr/share/ansible/collections/ansible_collections/nearzero/gcp" in containerfile
    assert "ansible-core==2.19.14" in containerfile
    # The collection content and the pinned dependencies travel in the build context.
    assert (ctx / "_build" / "nearzero" / "roles" / "base" / "tasks" / "main.yml").is_file()
    assert "google-auth==2.63.0" in (ctx / "_build" / "requirements.txt").read_text()
    assert "community.general" in (ctx / "_build" / "requirements.yml").read_text()
    shutil.rmtree(ctx)
