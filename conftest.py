"""pytest's entry point for this repository: the workbench on sys.path, and the emulator's fixtures.

The collection's tests (``tests/``) and the workbench's (``dev/tests/``) both talk to the GCP API
emulator over real HTTP. The emulator is workbench (``dev/emulator``), never part of the collection,
so its fixtures live with it and are loaded here, outside both test trees.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# Bytecode goes under .cache, never beside the collection's sources (plugins/, roles/): the tests
# import them from this tree, and compiled copies there would carry this machine's paths. The Makefile
# sets the same for `make test`; here it holds however pytest is started, for this process (set before
# any test module imports the collection) and for the ansible processes the tests start.
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(ROOT / ".cache" / "pycache"))
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]

sys.path.insert(0, str(ROOT / "dev"))

pytest_plugins = ["emulator.pytest_plugin"]
