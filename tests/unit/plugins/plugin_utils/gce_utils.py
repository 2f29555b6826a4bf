"""Import the gce inventory's plugin_utils modules the way the plugin does (as ansible_collections.nearzero.gcp)."""

import importlib
import sys

from tests.unit.plugins.gce_helpers import ROOT

BASE = "ansible_collections.nearzero.gcp.plugins.plugin_utils.gce."
# .collections links this checkout in as ansible_collections/nearzero/gcp
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))


def gce_utils(*names):
    """The modules ``names`` of plugins/plugin_utils/gce, in order."""
    return tuple(importlib.import_module(BASE + name) for name in names)
