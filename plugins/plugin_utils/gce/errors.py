"""Exceptions raised by the gce inventory's building blocks.

The pieces in this package raise instead of returning error values, so a failure can never be
mistaken for data on its way through a thread pool or a list of results, and each caller handles
only the failures it can act on. The inventory plugin turns every one of them into an AnsibleError
prefixed with ``gce inventory:``; their messages therefore carry no prefix of their own. Failures of
the Google APIs themselves travel as ``GcpError`` (module_utils), which already names the project,
the permission and the fix.
"""

from __future__ import annotations


class GceInventoryError(Exception):
    """A failure of the gce inventory; ``str(exc)`` says what is wrong and how to fix it."""


class ConfigError(GceInventoryError):
    """An option value the inventory cannot work with (raised before or without any host added)."""


class DuplicateHostError(GceInventoryError):
    """Two or more instances got the same host name while ``duplicate_names`` is ``error``."""


class UnreachableZonesError(GceInventoryError):
    """The API could not reach some zones while ``unreachable_zones`` is ``error``."""
