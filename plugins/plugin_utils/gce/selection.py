"""Which listed instances become hosts: statuses, then the include and exclude JMESPath expressions.

Applied on the raw instances (API field names), after listing: the Compute API filter cannot say
"any of these expressions", and JMESPath reaches fields the facts do not keep (extra_fields).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ansible_collections.nearzero.gcp.plugins.plugin_utils.gce.errors import ConfigError

try:
    import jmespath
except ImportError:
    jmespath = None

Row = Sequence[Any]  # [project, raw instance], as listed or read back from the cache


def compile_expressions(option: str, expressions: Iterable[Any]) -> list[Any]:
    """Compile the JMESPath ``expressions`` of ``option``; jmespath is needed only when some are given."""
    expressions = list(expressions)
    if expressions and jmespath is None:
        raise ConfigError(f"'{option}' needs the Python package jmespath: pip install jmespath")
    try:
        return [jmespath.compile(str(e)) for e in expressions]
    except jmespath.exceptions.ParseError as exc:
        raise ConfigError(f"invalid JMESPath expression in '{option}': {exc}") from None


def select(rows: Iterable[Row], statuses: Iterable[str], include: Sequence[Any],
           exclude: Sequence[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (project, instance) for each row in one of ``statuses`` (empty: any), included and not excluded."""
    wanted = {s.upper() for s in statuses}
    for project, inst in rows:
        if wanted and inst.get("status") not in wanted:
            continue
        if include and not any(e.search(inst) for e in include):
            continue
        if exclude and any(e.search(inst) for e in exclude):
            continue
        yield project, inst
