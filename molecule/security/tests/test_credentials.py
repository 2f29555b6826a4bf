"""The engine's credentials: readable by the engine, never changeable by it (issue 19, item 7).

A compromised engine that could rewrite its own libpq files could turn TLS off (sslmode), point its
connection at another address (hostaddr) with the password in it, or swap the CA bundle. The files
under /etc/nearzero/db are root's, group-readable by the engine's group, in a directory the engine
cannot write: each attempt below runs as the engine user and must fail, leaving the file as it was.
"""

import pytest
from test_security import engine, inventory  # noqa: F401 (fixtures)

DB_DIR = "/etc/nearzero/db"
ENGINE_USER = "trading"


def as_engine(host, command):
    """Run ``command`` (sh) as the engine user; the account has no login shell, runuser needs none."""
    return host.run(f"runuser -u {ENGINE_USER} -- sh -c {command!r}")


def credentials(host):
    """The credentials present under DB_DIR (the scenario writes pgpass; the service file where it exists)."""
    found = [f"{DB_DIR}/{name}" for name in ("pgpass", "pg_service.conf") if host.file(f"{DB_DIR}/{name}").exists]
    assert f"{DB_DIR}/pgpass" in found
    return found


def test_credentials_are_root_owned_and_readable_by_the_engine_group(engine):  # noqa: F811
    for path in credentials(engine):
        f = engine.file(path)
        assert (f.user, f.group, f.mode) == ("root", ENGINE_USER, 0o640), path
        # the engine reads it through its group
        assert as_engine(engine, f"cat {path} >/dev/null").rc == 0, path
    directory = engine.file(DB_DIR)
    assert directory.user == "root" and directory.mode & 0o022 == 0


@pytest.mark.parametrize("attempt", [
    "echo 'db:5432:*:*:stolen' >> {path}",  # append a line
    ": > {path}",  # truncate
    "chmod 0600 {path}",  # take the mode back
    "rm -f {path}",  # remove it
    "mv -f {path} {path}.moved",  # move it aside
    "cp /etc/hostname {DB_DIR}/new && mv -f {DB_DIR}/new {path}",  # replace it through the directory
    "ln -sf /tmp/elsewhere {path}",  # swap it for a link
])
def test_the_engine_user_cannot_change_or_replace_them(engine, attempt):  # noqa: F811
    for path in credentials(engine):
        before = engine.file(path).sha256sum
        result = as_engine(engine, attempt.format(path=path, DB_DIR=DB_DIR))
        assert result.rc != 0, f"{ENGINE_USER} could run {attempt!r} on {path}"
        f = engine.file(path)
        assert f.is_file and not f.is_symlink and f.sha256sum == before
        assert (f.user, f.group, f.mode) == ("root", ENGINE_USER, 0o640)
    assert not engine.file(f"{DB_DIR}/new").exists
