#!/usr/bin/python
"""Release directories of the trading engine: safe unpacking, the atomic ``current`` switch, history, pruning."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: engine_release
short_description: Manage engine releases under a root directory (unpack, switch, query, prune)
description:
  - Layout under O(root) - C(releases/<release>/) (one directory per release, each with a
    C(.nearzero-release.json) marker written last), C(current) (symlink to C(releases/<release>)),
    C(history.jsonl) (one JSON line per switch of C(current)).
  - V(unpacked) verifies the archive's sha256, refuses any member that would land outside the release
    (absolute paths, C(..), links pointing out, paths through links, hard links, devices), extracts into a
    hidden temporary directory and renames it into place, so a release directory is either complete or absent.
  - V(active) switches C(current) by renaming a temporary symlink over it (atomic) and appends to the history.
  - V(query) reports C(current) (from readlink), C(previous) (from the history, never from mtimes) and the releases.
  - V(pruned) keeps the O(keep) most recently activated releases, and always C(current) and C(previous).
  - V(unlinked) removes C(current) (after a first deploy failed with nothing to go back to).
options:
  root: {description: Base directory of the releases., type: path, required: true}
  state:
    description: What to do.
    type: str
    choices: [query, unpacked, active, pruned, unlinked]
    default: query
  release: {description: Release name (C(<version>-<shortsha>)) for V(unpacked) and V(active)., type: str}
  archive: {description: Path on the host of the .tar.gz to unpack (removed afterwards, success or not)., type: path}
  sha256: {description: Expected sha256 of O(archive), 64 hex digits., type: str}
  action:
    description: Recorded in the history for V(active).
    type: str
    choices: [deploy, rollback, auto-rollback]
    default: deploy
  keep: {description: Releases kept by V(pruned) (current and previous are always kept)., type: int, default: 5}
  entrypoint:
    description: Path inside a release that must be an executable regular file.
    type: str
    default: bin/engine
author: nearzero
"""

MARKER = ".nearzero-release.json"
HISTORY = "history.jsonl"
PARTIAL_PREFIX = ".partial-"
RELEASE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+~-]*-[0-9a-f]{8,64}$")


class ReleaseError(Exception):
    """Refused input or a failed step; the message names the problem and the fix."""


# --- archive checks and extraction -----------------------------------------------------------

def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _clean_name(name):
    """Return the member's path parts, or raise when it could land outside the release."""
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ReleaseError(f"member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        raise ReleaseError(f"member {name!r} has an empty path")
    if ".." in parts:
        raise ReleaseError(f"member {name!r} contains '..' (path traversal)")
    return parts


def plan_members(tar):
    """Validate every member before anything is written; return [(parts, member)] in archive order."""
    planned, links, seen = [], set(), set()
    for member in tar.getmembers():
        parts = _clean_name(member.name)
        key = "/".join(parts)
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in links:
                raise ReleaseError(f"member {member.name!r} goes through the symbolic link {'/'.join(parts[:depth])!r}")
        if key in seen and not member.isdir():
            raise ReleaseError(f"member {member.name!r} appears twice in the archive")
        seen.add(key)
        if member.issym():
            target = member.linkname
            if target.startswith("/"):
                raise ReleaseError(f"symbolic link {member.name!r} points to the absolute path {target!r}")
            resolved = os.path.normpath(os.path.join("/".join(parts[:-1]), target))
            if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
                raise ReleaseError(f"symbolic link {member.name!r} -> {target!r} points outside the release")
            links.add(key)
        elif member.islnk():
            raise ReleaseError(f"member {member.name!r} is a hard link; the artifact contract allows files, "
                               "directories and relative symbolic links inside the release")
        elif not (member.isfile() or member.isdir()):
            raise ReleaseError(f"member {member.name!r} is a device, FIFO or other special file")
        planned.append((parts, member))
    if not planned:
        raise ReleaseError("the archive is empty")
    return planned


def extract(tar, planned, dest):
    """Write the validated members under ``dest`` (never following links, owner root, no set-id bits)."""
    for parts, member in planned:
        path = os.path.join(dest, *parts)
        parent = os.path.dirname(path)
        os.makedirs(parent, mode=0o755, exist_ok=True)
        if member.isdir():
            os.makedirs(path, mode=0o755, exist_ok=True)
        elif member.issym():
            os.symlink(member.linkname, path)
        else:
            source = tar.extractfile(member)
            mode = 0o755 if member.mode & 0o111 else 0o644
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.chmod(path, mode)
    for dirpath, _dirs, _files in os.walk(dest):
        os.chmod(dirpath, 0o755)  # noqa: S103 - releases are root-owned and world-readable by design


def check_entrypoint(release_dir, entrypoint):
    path = os.path.join(release_dir, entrypoint)
    real = os.path.realpath(path)
    inside = real.startswith(os.path.realpath(release_dir) + os.sep)
    if not inside or not os.path.isfile(real) or not os.stat(real).st_mode & stat.S_IXUSR:
        raise ReleaseError(f"the archive has no executable {entrypoint}; the artifact contract requires one "
                           "(see roles/trading_engine/README.md)")


# --- layout ----------------------------------------------------------------------------------

class Releases:
    def __init__(self, root):
        self.root = root
        self.dir = os.path.join(root, "releases")
        self.current_link = os.path.join(root, "current")
        self.history_file = os.path.join(root, HISTORY)

    def path(self, release):
        return os.path.join(self.dir, release)

    def exists(self, release):
        return os.path.isfile(os.path.join(self.path(release), MARKER))

    def marker(self, release):
        with open(os.path.join(self.path(release), MARKER)) as handle:
            return json.load(handle)

    def names(self):
        if not os.path.isdir(self.dir):
            return []
        return sorted(n for n in os.listdir(self.dir) if not n.startswith(".") and self.exists(n))

    def current(self):
        """The release ``current`` points to (readlink), or None."""
        try:
            target = os.readlink(self.current_link)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ReleaseError(f"{self.current_link} exists but is not a symbolic link ({exc.strerror}). "
                               "Fix: move it away; the role manages it as a link.") from None
        return os.path.basename(os.path.normpath(target))

    def history(self):
        entries = []
        try:
            with open(self.history_file) as handle:
                for line in handle:
                    line = line.strip()
                    if line:
                        try:
                            entries.append(json.loads(line))
                        except ValueError:
                            continue  # a torn last line (power loss mid-append) is skipped, not fatal
        except FileNotFoundError:
            pass
        return entries

    def previous(self, current=None):
        """The rollback target: the latest release in the history that is not current and was not rolled back from.

        A release left by a rollback (its ``from``) is excluded until it is deployed again, so two
        rollbacks in a row walk further back instead of bouncing to the release just abandoned.
        """
        current = self.current() if current is None else current
        history = self.history()
        rejected = set()
        for entry in history:
            if entry.get("action") == "deploy":
                rejected.discard(entry.get("release"))
            else:
                if entry.get("from"):
                    rejected.add(entry["from"])
                rejected.discard(entry.get("release"))
        for entry in reversed(history):
            name = entry.get("release")
            if name and name != current and name not in rejected and self.exists(name):
                return name
        return None

    def append_history(self, entry):
        line = json.dumps(entry, sort_keys=True) + "\n"
        fd = os.open(self.history_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with os.fdopen(fd, "a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def switch(self, release):
        """Point ``current`` at ``release`` atomically: a temporary symlink renamed over it."""
        tmp = os.path.join(self.root, f".current-{os.getpid()}-{time.time_ns()}")
        os.symlink(os.path.join("releases", release), tmp)
        try:
            os.replace(tmp, self.current_link)
        except OSError:
            os.unlink(tmp)
            raise

    def clean_partials(self):
        removed = []
        if os.path.isdir(self.dir):
            for name in os.listdir(self.dir):
                if name.startswith(PARTIAL_PREFIX):
                    shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
                    removed.append(name)
        return removed


def unpack(rel, release, archive, expected, entrypoint, check_mode):
    if rel.exists(release):
        recorded = rel.marker(release).get("sha256")
        if recorded != expected:
            raise ReleaseError(f"release {release} already exists from an artifact with sha256 {recorded}, not "
                               f"{expected}. Fix: give the new artifact a new version.")
        _remove_quietly(archive)
        return False
    if check_mode:
        return True
    os.makedirs(rel.dir, mode=0o755, exist_ok=True)
    rel.clean_partials()
    if not archive or not os.path.isfile(archive):
        raise ReleaseError(f"the archive {archive} is not on the host; it is uploaded before unpacking")
    partial = os.path.join(rel.dir, f"{PARTIAL_PREFIX}{release}-{os.getpid()}")
    try:
        actual = sha256_of(archive)
        if actual != expected:
            raise ReleaseError(f"the archive on the host has sha256 {actual}, expected {expected} "
                               "(corrupted in transfer?); nothing was unpacked")
        try:
            with tarfile.open(archive, "r:*") as tar:
                planned = plan_members(tar)
                os.mkdir(partial, 0o755)
                extract(tar, planned, partial)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ReleaseError(f"the archive cannot be read as a tarball: {exc}") from None
        check_entrypoint(partial, entrypoint)
        with open(os.path.join(partial, MARKER), "w") as handle:
            json.dump({"release": release, "sha256": expected, "unpacked_at": time.time()}, handle)
        os.rename(partial, rel.path(release))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        _remove_quietly(archive)
    return True


def _remove_quietly(path):
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def prune(rel, keep, check_mode):
    current = rel.current()
    previous = rel.previous(current)
    order = {}
    for index, entry in enumerate(rel.history()):
        order[entry.get("release")] = index
    names = sorted(rel.names(), key=lambda n: (order.get(n, -1), rel.marker(n).get("unpacked_at", 0)))
    protected = {current, previous}
    keepers = set(names[-keep:]) if keep > 0 else set()
    doomed = [n for n in names if n not in keepers and n not in protected]
    if not check_mode:
        for name in doomed:
            # rename first: a directory is either a whole release or gone, never half deleted
            trash = os.path.join(rel.dir, f"{PARTIAL_PREFIX}{name}-{os.getpid()}")
            os.rename(rel.path(name), trash)
            shutil.rmtree(trash)
    return doomed


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "state": {"type": "str", "default": "query", "choices": ["query", "unpacked", "active", "pruned",
                                                                     "unlinked"]},
            "release": {"type": "str"},
            "archive": {"type": "path"},
            "sha256": {"type": "str"},
            "action": {"type": "str", "default": "deploy", "choices": ["deploy", "rollback", "auto-rollback"]},
            "keep": {"type": "int", "default": 5},
            "entrypoint": {"type": "str", "default": "bin/engine"},
        },
        required_if=[("state", "unpacked", ["release", "sha256"]), ("state", "active", ["release"])],
        supports_check_mode=True,
    )
    params = module.params
    rel = Releases(params["root"])
    release = params["release"]
    result = {"changed": False, "root": params["root"]}
    try:
        if release is not None and not RELEASE_RE.match(release):
            raise ReleaseError(f"release name {release!r} must be <version>-<hex sha> (e.g. 1.4.0-0123456789ab)")
        before = rel.current()
        result["before"] = before
        if params["state"] == "unpacked":
            expected = (params["sha256"] or "").lower()
            if not re.fullmatch(r"[0-9a-f]{64}", expected):
                raise ReleaseError("sha256 must be 64 hexadecimal digits")
            result["changed"] = unpack(rel, release, params["archive"], expected, params["entrypoint"],
                                       module.check_mode)
        elif params["state"] == "active":
            if not rel.exists(release) and not module.check_mode:
                raise ReleaseError(f"release {release} is not unpacked under {rel.dir}; "
                                   f"available: {', '.join(rel.names()) or 'none'}")
            if before != release:
                result["changed"] = True
                if not module.check_mode:
                    rel.switch(release)
                    rel.append_history({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                        "action": params["action"], "release": release, "from": before})
        elif params["state"] == "pruned":
            if params["keep"] < 1:
                raise ReleaseError("keep must be at least 1")
            result["removed"] = prune(rel, params["keep"], module.check_mode)
            result["changed"] = bool(result["removed"])
        elif params["state"] == "unlinked" and before is not None:
            result["changed"] = True
            if not module.check_mode:
                os.unlink(rel.current_link)
        current = before if module.check_mode else rel.current()
        result.update(current=current, previous=rel.previous(current), releases=rel.names(),
                      history=rel.history()[-20:])
    except ReleaseError as exc:
        module.fail_json(msg=f"{rel.root}: {exc}", **result)
    except OSError as exc:
        module.fail_json(msg=f"{rel.root}: {exc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
