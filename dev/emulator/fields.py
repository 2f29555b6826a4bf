"""The ``fields=`` partial-response mini-language of Google APIs.

Grammar (as Google documents it)::

    selection := item ("," item)*
    item      := path ["(" selection ")"]
    path      := name ("/" name)*
    name      := identifier | "*"

``a/b`` selects ``b`` inside ``a``; ``a(b,c)`` selects ``b`` and ``c`` inside ``a``;
``*`` stands for every key of a map (``items/*/instances``). Selections through a list
apply to each element. A parsed selection is a tree: ``{name: subtree}`` where a subtree
of ``None`` keeps the whole value.
"""

from __future__ import annotations

import re

from .errors import ApiError

_NAME = re.compile(r"[A-Za-z0-9_$@.\-]+|\*")


class FieldsError(ValueError):
    """The selection does not parse."""


def _error(spec: str) -> ApiError:
    return ApiError(400, f"Invalid field selection {spec}", "invalidParameter")


def _merge(tree: dict, name: str, sub):
    if name in tree:
        old = tree[name]
        if old is None or sub is None:
            tree[name] = None
        else:
            for key, value in sub.items():
                _merge(old, key, value)
    else:
        tree[name] = sub


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def _ws(self):
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def _peek(self) -> str:
        self._ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _name(self) -> str:
        self._ws()
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise FieldsError(f"expected a field name at position {self.pos}")
        self.pos = match.end()
        return match.group(0)

    def selection(self) -> dict:
        tree: dict = {}
        while True:
            names = [self._name()]
            while self._peek() == "/":
                self.pos += 1
                names.append(self._name())
            sub = None
            if self._peek() == "(":
                self.pos += 1
                sub = self.selection()
                if self._peek() != ")":
                    raise FieldsError(f"missing ')' at position {self.pos}")
                self.pos += 1
            for name in reversed(names[1:]):
                sub = {name: sub}
            _merge(tree, names[0], sub)
            if self._peek() == ",":
                self.pos += 1
                continue
            return tree


# Parsed selections are kept (bounded) so that their subtrees stay alive and the
# canonical key of each subtree is computed once, not once per projected resource.
_PARSED: dict[str, dict] = {}
_KEYS: dict[int, str] = {}


def _canonical(tree) -> str:
    if tree is None:
        return ""
    return ",".join(f"{key}({_canonical(sub)})" if sub is not None else key for key, sub in sorted(tree.items()))


def _remember_keys(tree) -> None:
    _KEYS[id(tree)] = _canonical(tree)
    for sub in tree.values():
        if sub is not None:
            _remember_keys(sub)


def parse(spec: str) -> dict:
    """Parse a ``fields`` value into a selection tree; raise ApiError(400) when it is invalid.

    The tree is shared and must not be modified.
    """
    tree = _PARSED.get(spec)
    if tree is not None:
        return tree
    parser = _Parser(spec)
    try:
        tree = parser.selection()
        if parser._peek():
            raise FieldsError(f"unexpected {parser._peek()!r} at position {parser.pos}")
    except FieldsError:
        raise _error(spec) from None
    if len(_PARSED) >= 64:
        _PARSED.clear()
        _KEYS.clear()
    _PARSED[spec] = tree
    _remember_keys(tree)
    return tree


def canonical(tree) -> str:
    """A stable string for a selection tree (used as a cache key)."""
    if tree is None:
        return ""
    key = _KEYS.get(id(tree))
    return key if key is not None else _canonical(tree)


class Projectable:
    """A value that projects itself (``store.Record`` caches its projections)."""

    def project(self, tree: dict | None):  # pragma: no cover - interface
        """Return this value restricted to ``tree``."""
        raise NotImplementedError


def apply(tree: dict | None, value):
    """Restrict ``value`` to the selection ``tree``; objects left empty are dropped."""
    if tree is None:
        return value
    if isinstance(value, Projectable):
        return value.project(tree)
    if isinstance(value, list):
        return [apply(tree, item) for item in value]
    if not isinstance(value, dict):
        return value
    star = tree.get("*", False)
    out = {}
    for key, item in value.items():
        sub = tree.get(key, star)
        if sub is False:
            continue
        projected = apply(sub, item)
        if isinstance(projected, dict) and not projected and sub is not None:
            continue
        out[key] = projected
    return out
