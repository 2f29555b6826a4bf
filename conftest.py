"""pytest's entry point for this repository: the workbench on sys.path, and the emulator's fixtures.

The collection's tests (``tests/``) and the workbench's (``dev/tests/``) both talk to the GCP API
emulator over real HTTP. The emulator is workbench (``dev/emulator``), never part of the collection,
so its fixtures live with it and are loaded here, outside both test trees.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "dev"))

pytest_plugins = ["emulator.pytest_plugin"]
