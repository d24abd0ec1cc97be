"""The search syntax of analytics queries: ``@field:value`` terms with boolean operators.

Supported, as Datadog documents it for event search: ``@field:value``, quoted values
(``@field:"two words"``), ``*`` and ``?`` wildcards (``@name:summ*``; ``@field:*`` means
"has the field"), numeric comparisons (``@score_value:>=0.5``), ``AND`` (also implicit
between terms), ``OR``, ``NOT`` and ``-``, parentheses, and a value group on one field
(``@label:(faithfulness OR relevance)``). Anything else (free text, ranges, lower-case
operators) is refused with a 400 naming the unsupported part: the fake never answers a
query it does not understand with a silently wrong result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from ddllmobs_async.testing._jsonapi import ApiError

Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]

QUERY_POINTER = "/data/attributes/aggregate/search/query"
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_COMPARISONS = (">=", "<=", ">", "<")
_STOP = frozenset("()")


@attrs.frozen
class Token:
    """One lexical unit of a query.

    ``kind`` is ``(``, ``)``, ``AND``, ``OR``, ``NOT``, ``TERM``, ``FIELD`` (``@field:``
    before a group), ``ALL`` (``*``) or ``WORD`` (free text).
    """

    kind: str
    text: str
    position: int
    field: str = ""
    quoted: bool = False


def unsupported(detail: str) -> ApiError:
    """A 400 pointing at the search query."""
    return ApiError(400, f"Unsupported search query: {detail}", pointer=QUERY_POINTER)


def compile_query(query: str) -> Predicate:
    """The predicate an event must satisfy to match ``query`` (``""`` and ``*``: all).

    Raises:
        ApiError: 400 naming the part of the query that is not supported.
    """
    tokens = list(_tokenize(query))
    if not tokens:
        return _everything
    parser = _Parser(tokens)
    predicate = parser.expression(field=None)
    if parser.peek() is not None:
        token = parser.peek()
        assert token is not None
        raise unsupported(f"unexpected {token.text!r} at position {token.position}.")
    return predicate


def lookup(event: Event, field: str) -> Any:
    """Return ``event[field]``, following dots into nested objects; ``None`` if absent."""
    if field in event:
        return event[field]
    value: Any = event
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


# --------------------------------------------------------------------------- lexing


def _tokenize(query: str) -> Iterator[Token]:
    index = 0
    while index < len(query):
        char = query[index]
        if char.isspace():
            index += 1
        elif char in _STOP:
            yield Token(char, char, index)
            index += 1
        elif char == "-" and index + 1 < len(query) and not query[index + 1].isspace():
            yield Token("NOT", "-", index)
            index += 1
        elif char == "@":
            token, index = _field_token(query, index)
            yield token
        else:
            text, quoted, end = _value(query, index)
            yield _word(text, quoted, index)
            index = end


def _word(text: str, quoted: bool, position: int) -> Token:
    if not quoted and text in _OPERATORS:
        return Token(text, text, position)
    if not quoted and text == "*":
        return Token("ALL", text, position)
    return Token("WORD", text, position, quoted=quoted)


def _field_token(query: str, start: int) -> tuple[Token, int]:
    colon = _unescaped(query, ":", start)
    space = next((i for i in range(start, len(query)) if query[i].isspace()), len(query))
    if colon is None or colon > space or colon == start + 1:
        chunk = query[start:space]
        raise unsupported(f"{chunk!r} at position {start} needs a value: use @field:value.")
    field = _unescape(query[start + 1 : colon])
    if colon + 1 < len(query) and query[colon + 1] == "(":
        return Token("FIELD", query[start : colon + 1], start, field=field), colon + 1
    text, quoted, end = _value(query, colon + 1)
    if not text and not quoted:
        raise unsupported(f"@{field}: at position {start} has no value.")
    return Token("TERM", text, start, field=field, quoted=quoted), end


def _value(query: str, start: int) -> tuple[str, bool, int]:
    """(text, quoted, end) of the value at ``start``: ``"..."`` or up to a space/paren."""
    if start < len(query) and query[start] == '"':
        end = _unescaped(query, '"', start + 1)
        if end is None:
            raise unsupported(f"unterminated quote at position {start}.")
        return _unescape(query[start + 1 : end]), True, end + 1
    index = start
    while index < len(query) and not query[index].isspace() and query[index] not in _STOP:
        index += 2 if query[index] == "\\" else 1
    index = min(index, len(query))
    raw = query[start:index]
    if raw.startswith(("[", "{")):
        closing = query.find("]" if raw[0] == "[" else "}", start)
        shown = query[start : closing + 1] if closing > 0 else raw
        raise unsupported(f"range {shown!r} at position {start} (use >=, <=, > or <).")
    return raw, False, index


def _unescaped(query: str, char: str, start: int) -> int | None:
    index = start
    while index < len(query):
        if query[index] == "\\":
            index += 2
            continue
        if query[index] == char:
            return index
        index += 1
    return None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# --------------------------------------------------------------------------- parsing


class _Parser:
    """Recursive descent: OR binds loosest, then AND (explicit or implicit), then NOT."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self._tokens = tokens
        self._index = 0

    def peek(self) -> Token | None:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def _next(self) -> Token | None:
        token = self.peek()
        self._index += token is not None
        return token

    def expression(self, field: str | None) -> Predicate:
        options = [self._conjunction(field)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self._next()
            options.append(self._conjunction(field))
        return options[0] if len(options) == 1 else _any_of(options)

    def _conjunction(self, field: str | None) -> Predicate:
        parts = [self._unary(field)]
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            if token.kind == "AND":
                self._next()
            parts.append(self._unary(field))
        return parts[0] if len(parts) == 1 else _all_of(parts)

    def _unary(self, field: str | None) -> Predicate:
        token = self._next()
        if token is None:
            raise unsupported("the query ends where a term is expected.")
        if token.kind == "NOT":
            inner = self._unary(field)
            return lambda event: not inner(event)
        if token.kind == "(":
            return self._group(token, field)
        if token.kind == "FIELD":
            self._next()  # the "(" right after "@field:"
            return self._group(token, token.field)
        if token.kind == "TERM":
            return _term(token.field, token.text, token.quoted)
        if token.kind == "ALL":
            return _everything if field is None else _term(field, "*", quoted=False)
        if token.kind == "WORD" and field is not None:
            return _term(field, token.text, token.quoted)
        if token.kind == "WORD":
            raise unsupported(
                f"free text {token.text!r} at position {token.position} (use @field:value)."
            )
        raise unsupported(f"{token.text!r} at position {token.position} needs a term before it.")

    def _group(self, opening: Token, field: str | None) -> Predicate:
        inner = self.expression(field)
        closing = self._next()
        if closing is None or closing.kind != ")":
            raise unsupported(f"the parenthesis at position {opening.position} is never closed.")
        return inner


# --------------------------------------------------------------------------- matching


def _everything(event: Event) -> bool:
    return True


def _any_of(options: list[Predicate]) -> Predicate:
    return lambda event: any(option(event) for option in options)


def _all_of(parts: list[Predicate]) -> Predicate:
    return lambda event: all(part(event) for part in parts)


def _term(field: str, text: str, quoted: bool) -> Predicate:
    matches = _value_matcher(text, quoted)

    def term(event: Event) -> bool:
        actual = lookup(event, field)
        if isinstance(actual, list):
            return any(item is not None and matches(item) for item in actual)
        return actual is not None and matches(actual)

    return term


def _value_matcher(text: str, quoted: bool) -> Callable[[Any], bool]:
    if quoted:
        return lambda actual: _as_text(actual) == text
    if text == "*":
        return lambda actual: True
    for operator in _COMPARISONS:
        if text.startswith(operator):
            return _comparison(operator, text)
    if _has_wildcard(text):
        pattern = _wildcard_pattern(text)
        return lambda actual: pattern.fullmatch(_as_text(actual)) is not None
    plain = _unescape(text)
    return lambda actual: _as_text(actual) == plain


def _comparison(operator: str, text: str) -> Callable[[Any], bool]:
    try:
        bound = float(text[len(operator) :])
    except ValueError:
        raise unsupported(f"{text!r} compares with something that is not a number.") from None
    compare: Callable[[float], bool] = {
        ">=": lambda v: v >= bound,
        "<=": lambda v: v <= bound,
        ">": lambda v: v > bound,
        "<": lambda v: v < bound,
    }[operator]
    return lambda actual: _is_number(actual) and compare(float(actual))


def _has_wildcard(text: str) -> bool:
    return re.search(r"(?<!\\)[*?]", text) is not None


def _wildcard_pattern(text: str) -> re.Pattern[str]:
    parts = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            parts.append(re.escape(text[index + 1]))
            index += 2
            continue
        parts.append({"*": ".*", "?": "."}.get(char) or re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
