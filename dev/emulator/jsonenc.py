"""JSON encoding with pre-encoded fragments.

List pages are assembled from instances that were encoded once and cached as bytes
(see ``store.Record``), so serving a 500-instance page costs a join rather than a
full ``json.dumps``. ``dumps`` walks the small response skeleton itself and splices
the cached fragments in, in compact or Google's default pretty form (2-space indent).
"""

from __future__ import annotations

import json

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Fragment:
    """Something that knows how to encode itself (compact or pretty) as JSON bytes."""

    def encode(self, pretty: bool) -> bytes:  # pragma: no cover - interface
        """Return the encoded JSON value at indentation depth 0."""
        raise NotImplementedError


def _pretty_scalar_or_plain(value) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode()


def _contains_fragment(value) -> bool:
    if isinstance(value, Fragment):
        return True
    if isinstance(value, dict):
        return any(_contains_fragment(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_fragment(v) for v in value)
    return False


def _encode(value, pretty: bool, depth: int, out: list[bytes]) -> None:
    if isinstance(value, Fragment):
        data = value.encode(pretty)
        if pretty and depth:
            data = data.replace(b"\n", b"\n" + b"  " * depth)
        out.append(data)
        return
    if not _contains_fragment(value):
        if pretty:
            data = _pretty_scalar_or_plain(value)
            if depth:
                data = data.replace(b"\n", b"\n" + b"  " * depth)
            out.append(data)
        else:
            out.append(_compact(value).encode())
        return
    inner = b"\n" + b"  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            out.append(b"{}")
            return
        out.append(b"{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(b",")
            if pretty:
                out.append(inner)
                out.append(_compact(key).encode() + b": ")
            else:
                out.append(_compact(key).encode() + b":")
            _encode(item, pretty, depth + 1, out)
        if pretty:
            out.append(b"\n" + b"  " * depth)
        out.append(b"}")
        return
    # a list holding fragments
    if not value:
        out.append(b"[]")
        return
    out.append(b"[")
    for i, item in enumerate(value):
        if i:
            out.append(b",")
        if pretty:
            out.append(inner)
        _encode(item, pretty, depth + 1, out)
    if pretty:
        out.append(b"\n" + b"  " * depth)
    out.append(b"]")


def dumps(value, pretty: bool = False) -> bytes:
    """Encode ``value`` (plain JSON data possibly holding ``Fragment``s) to UTF-8 bytes."""
    out: list[bytes] = []
    _encode(value, pretty, 0, out)
    if pretty:
        out.append(b"\n")
    return b"".join(out)


def encode_plain(value, pretty: bool) -> bytes:
    """Encode plain JSON data (no fragments) at depth 0."""
    if pretty:
        return _pretty_scalar_or_plain(value)
    return _compact(value).encode()
