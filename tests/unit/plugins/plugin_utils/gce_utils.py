"""Import the gce inventory's plugin_utils modules the way the plugin does (through .collections)."""

import importlib

import tests.unit.plugins.gce_helpers  # noqa: F401 (puts .collections on sys.path)

BASE = "ansible_collections.nearzero.gcp.plugins.plugin_utils.gce."


def gce_utils(*names):
    """The modules ``names`` of plugins/plugin_utils/gce, in order."""
    return tuple(importlib.import_module(BASE + name) for name in names)
