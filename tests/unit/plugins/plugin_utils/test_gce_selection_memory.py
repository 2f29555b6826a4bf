"""plugin_utils/gce/selection.py (statuses, include, exclude) and memory.py (shared tagged values)."""

import pytest

from tests.unit.plugins.plugin_utils.gce_utils import gce_utils

selection, memory, errors = gce_utils("selection", "memory", "errors")

ROWS = [
    ["p1", {"name": "a", "status": "RUNNING", "labels": {"role": "engine"}}],
    ["p1", {"name": "b", "status": "RUNNING", "labels": {"role": "db"}}],
    ["p2", {"name": "c", "status": "TERMINATED", "labels": {"role": "engine"}}],
]


def names(statuses, include=(), exclude=()):
    inc = selection.compile_expressions("include", include)
    exc = selection.compile_expressions("exclude", exclude)
    return [inst["name"] for _p, inst in selection.select(ROWS, statuses, inc, exc)]


def test_statuses_include_exclude():
    assert names(["running"]) == ["a", "b"]
    assert names([]) == ["a", "b", "c"]
    assert names([], include=["labels.role == 'engine'"]) == ["a", "c"]
    assert names([], include=["labels.role == 'engine'"], exclude=["status == 'TERMINATED'"]) == ["a"]


def test_invalid_expression_names_the_option():
    with pytest.raises(errors.ConfigError, match="invalid JMESPath expression in 'exclude'"):
        selection.compile_expressions("exclude", ["labels.["])


def test_share_hands_back_the_stored_copies():
    interned = {}
    first = {"zone": "us-central1-a", "labels": {"role": "engine"}, "tags": ["ssh"],
             "gpus": [{"type": "l4", "count": 1}]}
    assert memory.share(first, interned) is True  # nothing known yet
    memory.learn(first, interned)
    # equal values built apart (as for another host) become the very objects stored for the first one
    second = {"zone": "".join(["us-central1-", "a"]), "labels": {"role": "".join(["eng", "ine"])},
              "tags": ["".join(["s", "sh"])], "gpus": [{"type": "".join(["l", "4"]), "count": 1}]}
    assert second["zone"] is not first["zone"]
    assert memory.share(second, interned) is False
    assert second["zone"] is first["zone"] and second["labels"]["role"] is first["labels"]["role"]
    assert second["tags"][0] is first["tags"][0] and second["gpus"][0]["type"] is first["gpus"][0]["type"]
    assert memory.share({"zone": "europe-west4-b"}, interned) is True
