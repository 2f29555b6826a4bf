"""The engine's credentials: readable by the engine, never changeable by it (issue 19, item 7).

A compromised engine that could rewrite its own libpq files could turn TLS off (sslmode), point its
connection at another address (hostaddr) with the password in it, or swap the CA bundle. The files
under /etc/nearzero/db are root's, group-readable by the engine's group, in a directory the engine
cannot write: each attempt below runs as the engine user and must fail, leaving the file as it was.
"""

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


ATTEMPTS = [
    "echo 'db:5432:*:*:stolen' >> {path}",  # append a line
    ": > {path}",  # truncate
    "chmod 0600 {path}",  # take the mode back
    "rm -f {path}",  # remove it
    "mv -f {path} {path}.moved",  # move it aside
    "cp /etc/hostname {dir}/new && mv -f {dir}/new {path}",  # replace it through the directory
    "ln -sf /tmp/elsewhere {path}",  # swap it for a link
]


def test_the_engine_user_cannot_change_or_replace_them(engine):  # noqa: F811
    # one script on the host (one connection): for each file and attempt, the attempt's exit status as the
    # engine user, then the file's owner, group, mode, type and checksum as root
    # three lines whatever happened to the file (moved, removed, a link)
    state = ("stat -c '%U %G %a' {path} 2>/dev/null || echo missing; "
             "{{ test -f {path} && test ! -L {path}; }} && echo file || echo not-a-file; "
             "sha256sum < {path} 2>/dev/null || echo unreadable")
    paths = credentials(engine)
    lines = []
    for path in paths:
        lines.append(f"echo BEFORE {path}; {state.format(path=path)}")
        for attempt in ATTEMPTS:
            command = attempt.format(path=path, dir=DB_DIR)
            lines.append(f"runuser -u {ENGINE_USER} -- sh -c {command!r} 2>/dev/null; echo \"RC $?\"; "
                         f"{state.format(path=path)}")
    out = engine.run("\n".join(lines)).stdout.splitlines()
    blocks = iter(out)
    for path in paths:
        assert next(blocks) == f"BEFORE {path}"
        before = (next(blocks), next(blocks), next(blocks))
        assert before[:2] == (f"root {ENGINE_USER} 640", "file"), path
        for attempt in ATTEMPTS:
            rc, after = next(blocks), (next(blocks), next(blocks), next(blocks))
            assert rc != "RC 0", f"{ENGINE_USER} could run {attempt!r} on {path}"
            assert after == before, f"{attempt!r} changed {path}: {after} (was {before})"
    assert not engine.file(f"{DB_DIR}/new").exists
