#!/usr/bin/python
# Copyright: (c) 2026, nearzero
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Release directories of the trading engine: safe unpacking, the atomic ``current`` switch, history, pruning."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: engine_release
short_description: Manage the trading engine's releases under a root directory (unpack, switch, query, prune)
version_added: "0.1.0"
description:
  - Layout under O(root) - C(releases/<release>/) (one directory per release, each with a
    C(.nearzero-release.json) marker written last), C(current) (symlink to C(releases/<release>)),
    C(history.jsonl) (one JSON line per switch of C(current)).
  - O(state=unpacked) verifies the archive's sha256, refuses any member that would land outside the
    release (absolute paths, C(..), links pointing out, paths through links, hard links, devices),
    extracts into a hidden temporary directory and renames it into place, so a release directory is
    either complete or absent. Set-id bits and group/world write permissions are dropped; files are
    written C(0644), or C(0755) when the archive marks them executable.
  - O(state=active) switches C(current) by renaming a temporary symlink over it (atomic) and appends
    one line to the history.
  - O(state=query) reports C(current) (from readlink), C(previous) (from the history, never from
    modification times) and the releases; it changes nothing.
  - O(state=pruned) keeps the O(keep) most recently activated releases, and always C(current) and
    C(previous).
  - O(state=unlinked) removes C(current) (after a first deploy failed with nothing to go back to).
  - The rollback target (C(previous)) is the latest release in the history that is not current and
    was not rolled back from, so two rollbacks in a row walk further back.
author: nearzero (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what would change; nothing is unpacked, switched, recorded or removed.
  diff_mode:
    support: full
    details: Shows C(current) and the list of releases before and after.
  platform:
    platforms: posix
options:
  root:
    description:
      - Base directory of the releases, for example C(/opt/nearzero/engine).
      - Created by O(state=unpacked) when it does not exist.
    type: path
    required: true
  state:
    description:
      - V(query) reads the layout; V(unpacked) adds a release from O(archive); V(active) points
        C(current) at O(release); V(pruned) removes old releases; V(unlinked) removes C(current).
    type: str
    choices: [query, unpacked, active, pruned, unlinked]
    default: query
  release:
    description:
      - Release name, C(<version>-<hex sha>) with 8 to 64 hexadecimal digits, for example
        C(1.4.0-0123456789ab).
      - Required with O(state=unpacked) and O(state=active).
    type: str
  archive:
    description:
      - Path on the managed host of the C(.tar.gz) to unpack with O(state=unpacked). It is removed
        afterwards, whether unpacking succeeded or not.
      - Not needed when O(release) is already unpacked from the same O(sha256).
    type: path
  sha256:
    description:
      - Expected sha256 of O(archive), 64 hexadecimal digits. Required with O(state=unpacked).
      - An existing release unpacked from another sha256 is refused (give the new artifact a new version).
    type: str
  action:
    description:
      - Recorded in the history by O(state=active). V(deploy) makes a release a rollback candidate
        again; V(rollback) and V(auto-rollback) exclude the release they leave from later rollbacks.
    type: str
    choices: [deploy, rollback, auto-rollback]
    default: deploy
  keep:
    description:
      - Number of most recently activated releases O(state=pruned) keeps, at least 1; C(current) and
        C(previous) are kept in addition.
    type: int
    default: 5
  entrypoint:
    description:
      - Path inside a release that must be an executable regular file; an archive without it is refused.
    type: str
    default: bin/engine
notes:
  - Releases are written owned by the user the module runs as (root with C(become)), world-readable.
"""

EXAMPLES = r"""
- name: Unpack a release uploaded to the host
  nearzero.gcp.engine_release:
    root: /opt/nearzero/engine
    state: unpacked
    release: 1.4.0-0123456789ab
    archive: /opt/nearzero/engine/.upload-1.4.0.tar.gz
    sha256: "{{ trading_engine_artifact_sha256 }}"
  become: true

- name: Switch current to it
  nearzero.gcp.engine_release:
    root: /opt/nearzero/engine
    state: active
    release: 1.4.0-0123456789ab
  become: true

- name: Find the rollback target
  nearzero.gcp.engine_release:
    root: /opt/nearzero/engine
  register: engine

- name: Roll back to it
  nearzero.gcp.engine_release:
    root: /opt/nearzero/engine
    state: active
    release: "{{ engine.previous }}"
    action: rollback
  when: engine.previous is not none
  become: true

- name: Keep the three most recent releases (and current and previous)
  nearzero.gcp.engine_release:
    root: /opt/nearzero/engine
    state: pruned
    keep: 3
  become: true
"""

RETURN = r"""
root:
  description: The O(root) the module worked on.
  returned: always
  type: str
  sample: /opt/nearzero/engine
before:
  description: The release C(current) pointed to before the module ran, or null.
  returned: when the module got as far as reading C(current)
  type: str
  sample: 1.3.2-89abcdef0123
current:
  description: The release C(current) points to (in check mode, the one it points to now), or null.
  returned: success
  type: str
  sample: 1.4.0-0123456789ab
previous:
  description: The rollback target (see the description), or null when there is none.
  returned: success
  type: str
  sample: 1.3.2-89abcdef0123
releases:
  description: The complete releases under C(releases/), sorted by name.
  returned: success
  type: list
  elements: str
  sample: [1.3.2-89abcdef0123, 1.4.0-0123456789ab]
history:
  description: The last 20 entries of C(history.jsonl), oldest first.
  returned: success
  type: list
  elements: dict
  contains:
    time:
      description: When C(current) was switched (UTC, ISO 8601).
      type: str
    action:
      description: V(deploy), V(rollback) or V(auto-rollback).
      type: str
    release:
      description: The release C(current) was switched to.
      type: str
    from:
      description: The release C(current) pointed to before, or null.
      type: str
  sample:
    - {time: "2026-12-01T10:00:00Z", action: deploy, release: 1.4.0-0123456789ab, from: 1.3.2-89abcdef0123}
removed:
  description: Releases O(state=pruned) removed (or in check mode would remove).
  returned: when O(state=pruned)
  type: list
  elements: str
  sample: [1.2.0-fedcba987654]
"""

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


def diff(state, release, result, releases_before, check_mode):
    """Before/after of ``current`` and the release list; in check mode the after side is what would be."""
    after = {"current": result["current"], "releases": result["releases"]}
    if check_mode and result["changed"]:
        if state == "unpacked":
            after["releases"] = sorted({*releases_before, release})
        elif state == "active":
            after["current"] = release
        elif state == "pruned":
            after["releases"] = [n for n in releases_before if n not in result["removed"]]
        elif state == "unlinked":
            after["current"] = None
    return {"before": {"current": result["before"], "releases": releases_before}, "after": after}


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
        releases_before = rel.names()
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
        if module._diff:
            result["diff"] = diff(params["state"], release, result, releases_before, module.check_mode)
    except ReleaseError as exc:
        module.fail_json(msg=f"{rel.root}: {exc}", **result)
    except OSError as exc:
        module.fail_json(msg=f"{rel.root}: {exc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
