"""The Compute Engine list ``filter`` language.

Two syntaxes exist and cannot be mixed in one expression:

* comparison (AIP-160 style): ``status = RUNNING``, ``labels.role = engine``,
  ``name != "x"``, ``labels.owner:*`` (has), ``cpuPlatform:Intel`` (substring),
  ``<``/``>``/``<=``/``>=``; terms in parentheses, joined by ``AND`` (or just a space)
  and ``OR``; ``NOT`` negates. As in AIP-160, ``OR`` binds tighter than ``AND``.
  ``*`` in an ``=`` value is a wildcard.
* regular expression: ``name eq 'engine-.*'`` / ``name ne .*-test``, either one bare
  term or several parenthesised terms (ANDed). The pattern must match the whole value.

Nested fields use dots; a path through a list matches when any element matches
(``networkInterfaces.networkIP = 10.0.0.2``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import invalid_value

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*")
_OPS = ("!=", ">=", "<=", "=", "<", ">", ":")


class FilterSyntaxError(ValueError):
    """The filter does not parse; the message says where and why."""


def _values(obj, parts: list[str]):
    """Yield every value reached by the dotted path (fanning out through lists)."""
    if not parts:
        if isinstance(obj, list):
            yield from obj
        else:
            yield obj
        return
    if isinstance(obj, list):
        for item in obj:
            yield from _values(item, parts)
        return
    if isinstance(obj, dict) and parts[0] in obj:
        yield from _values(obj[parts[0]], parts[1:])


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def _compare(op: str, actual, wanted: str) -> bool:
    if isinstance(actual, dict | list):
        return op == ":" and wanted == "*"
    text = _text(actual)
    if op == ":":
        if wanted == "*":
            return True
        return wanted in text if isinstance(actual, str) else text == wanted
    if op in ("=", "!="):
        if "*" in wanted and isinstance(actual, str):
            pattern = ".*".join(re.escape(part) for part in wanted.split("*"))
            hit = re.fullmatch(pattern, text, re.DOTALL) is not None
        else:
            hit = text == wanted or (isinstance(actual, bool) and text == wanted.lower())
        return hit if op == "=" else not hit
    left, right = _number(text), _number(wanted)
    if left is None or right is None:
        left, right = text, wanted
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]


class _Term:
    def __init__(self, field: str, op: str, value: str):
        self.parts = field.split(".")
        self.op = op
        self.value = value
        self.regex = None
        if op in ("eq", "ne"):
            try:
                self.regex = re.compile(value, re.DOTALL)
            except re.error as exc:
                raise FilterSyntaxError(f"invalid regular expression {value!r}: {exc}") from None

    def __call__(self, obj) -> bool:
        values = list(_values(obj, self.parts))
        if self.regex is not None:
            hit = any(not isinstance(v, dict | list) and self.regex.fullmatch(_text(v)) for v in values)
            return hit if self.op == "eq" else not hit
        if self.op == "!=":
            return not any(_compare("=", v, self.value) for v in values)
        return any(_compare(self.op, v, self.value) for v in values)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.styles: set[str] = set()
        self.used_logic = False

    # -- scanning
    def ws(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos > start

    def at_end(self) -> bool:
        self.ws()
        return self.pos >= len(self.text)

    def keyword(self, word: str) -> bool:
        """Consume ``word`` if it stands alone at the cursor."""
        save = self.pos
        self.ws()
        end = self.pos + len(word)
        if self.text[self.pos : end] == word and (
            end >= len(self.text) or self.text[end].isspace() or self.text[end] == "("
        ):
            self.pos = end
            return True
        self.pos = save
        return False

    def fail(self, why: str):
        raise FilterSyntaxError(f"{why} at position {self.pos}")

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == quote:
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        return self.fail("unterminated quoted string")

    def literal(self, in_parens: bool) -> str:
        """An unquoted value: up to whitespace, or an unbalanced ')' closing the term."""
        start, depth = self.pos, 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch.isspace() and depth == 0:
                break
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    if in_parens:
                        break
                    self.fail("unbalanced ')'")
                depth -= 1
            self.pos += 1
        if self.pos == start:
            self.fail("missing value")
        return self.text[start : self.pos]

    # -- grammar
    def expression(self, depth: int) -> Callable:
        groups = [self.disjunction(depth)]
        while True:
            if self.at_end() or self.text[self.pos] == ")":
                break
            self.keyword("AND")
            groups.append(self.disjunction(depth))
        if len(groups) == 1:
            return groups[0]
        return lambda obj: all(g(obj) for g in groups)

    def disjunction(self, depth: int) -> Callable:
        terms = [self.unary(depth)]
        while self.keyword("OR"):
            self.used_logic = True
            terms.append(self.unary(depth))
        if len(terms) == 1:
            return terms[0]
        return lambda obj: any(t(obj) for t in terms)

    def unary(self, depth: int) -> Callable:
        if self.keyword("NOT"):
            self.used_logic = True
            inner = self.unary(depth)
            return lambda obj: not inner(obj)
        self.ws()
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            self.pos += 1
            inner = self.expression(depth + 1)
            self.ws()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                self.fail("missing ')'")
            self.pos += 1
            return inner
        return self.term(depth > 0)

    def term(self, in_parens: bool) -> Callable:
        self.ws()
        match = _FIELD.match(self.text, self.pos)
        if not match:
            self.fail("expected a field name")
        field = match.group(0)
        self.pos = match.end()
        had_space = self.ws()
        op = None
        if had_space and (self.keyword("eq") or self.keyword("ne")):
            op = self.text[self.pos - 2 : self.pos]
            self.styles.add("regex")
        else:
            for candidate in _OPS:
                if self.text.startswith(candidate, self.pos):
                    op = candidate
                    self.pos += len(candidate)
                    self.styles.add("comparison")
                    break
        if op is None:
            self.fail(f"expected an operator after {field!r} (=, !=, <, >, <=, >=, :, eq or ne)")
        self.ws()
        quoted = self.pos < len(self.text) and self.text[self.pos] in "'\""
        return _Term(field, op, self.quoted() if quoted else self.literal(in_parens))


_CACHE: dict[str, Callable] = {}


def compile_filter(text: str) -> Callable[[dict], bool] | None:
    """Compile a filter into a predicate over resource dicts (None for an empty filter).

    Raises ``ApiError`` 400 ("Invalid value for field 'filter'") when it does not parse,
    mixes the two syntaxes, or uses OR/NOT with regular expressions.
    """
    if not text or not text.strip():
        return None
    cached = _CACHE.get(text)
    if cached is not None:
        return cached
    parser = _Parser(text)
    try:
        predicate = parser.expression(0)
        if not parser.at_end():
            parser.fail("unexpected ')'")
        if parser.styles == {"regex", "comparison"}:
            raise FilterSyntaxError(
                "regular-expression operators (eq, ne) cannot be mixed with comparison operators "
                "(=, !=, <, >, :) in one filter"
            )
        if "regex" in parser.styles and parser.used_logic:
            raise FilterSyntaxError("regular-expression terms can only be ANDed: use (a eq x) (b ne y)")
    except FilterSyntaxError as exc:
        raise invalid_value("filter", text, f"Invalid list filter expression: {exc}.") from None
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[text] = predicate
    return predicate
