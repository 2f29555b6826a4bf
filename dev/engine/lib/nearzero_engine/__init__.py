"""nearzero reference trading engine (stdlib + psycopg2), run by the trading_engine role.

The version is the ``VERSION`` file at the root of the release (written by
``dev/tools/engine_artifact.py``); a source checkout without it reports ``0+source``.
"""

from pathlib import Path


def _read_version() -> str:
    try:
        return (Path(__file__).resolve().parents[2] / "VERSION").read_text().strip() or "0+source"
    except OSError:
        return "0+source"


__version__ = _read_version()
