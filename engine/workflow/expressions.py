"""The safe expression evaluator behind every expression in an Infora process model.

Gateway conditions, timer expressions, multi-instance collections and service-task parameters are
written by process coordinators and uploaded with the BPMN diagram. SpiffWorkflow's default script
engine would ``eval`` them with full builtins; this module evaluates them instead, over the task data
(a mapping of JSON-like values plus ``date``/``datetime``/``timedelta``) and nothing else.

Language
    A small subset of Python expressions: literals (text, integers, decimals, ``True``/``False``,
    ``None``; list, tuple, dict and set displays), variable names, ``and``/``or``/``not``,
    comparisons (also chained), ``in``/``not in``, ``is None``/``is not None``, ``+ - * / // %``,
    unary ``-``/``+``, ``**`` with a small exponent, ``a if c else b``, subscripts ``x["key"]``,
    ``x[0]`` and slices ``x[1:3]``, and calls by bare name to the functions in
    :data:`ALLOWED_FUNCTIONS` (positional arguments only): ``len min max abs round int float str bool
    sum any all sorted`` and the date helpers ``today()`` (the date in Europe/Stockholm), ``now()``
    (an aware UTC datetime), ``date("2026-01-31")`` and ``days_between(a, b)``.

    Everything else is rejected by :func:`parse_expression`, before anything is evaluated, with a
    Swedish (and English) reason naming the construct: attribute access (``x.y``), lambda,
    comprehensions and generator expressions, ``:=``, f-strings, ``*``/``**`` unpacking,
    ``await``/``yield``, bitwise operators, names beginning with ``_`` and calls to anything else.

    f-strings are rejected on purpose: their format specifications are a second mini-language (and
    ``f"{x:>999999999}"`` builds a gigabyte); ``"Ärende " + str(n)`` does the same job.

    A function name is looked up as a function only in call position, so task data may well hold a
    variable called ``date`` or ``sum``: ``date`` reads the variable, ``date("2026-01-31")`` calls
    the helper.

Bounds
    The text is at most :data:`MAX_TEXT_LENGTH` characters and :data:`MAX_NODES` expression nodes.
    Integers may not exceed ``10**100`` in magnitude, neither as a literal nor as any intermediate
    result; ``**`` takes an exponent of at most 100 in magnitude (checked at parse time when the
    exponent is a literal). A value the expression *builds* (with ``+``, ``*``, a display or
    ``str()``) may weigh at most :data:`MAX_SIZE` (100 000), where a text weighs its length, a
    container the sum of its elements and keys (deeply), and anything else (or anything empty) 1;
    ``+`` and ``*`` check the size before they build anything. ``%`` is arithmetic only (no
    ``"%s" % x`` formatting) and ``round`` takes at most 100 digits. There are no loops and every
    node is evaluated at most once, so with these bounds the time an evaluation takes is bounded
    too (by the size of the task data it reads). Values nested too deeply to compare end in an
    ExpressionError, as does anything else that goes wrong while evaluating.

Bare ISO 8601 literals
    A timer may be written without quotes: a duration (``P3M``, ``P14D``, ``PT12H``, ``P1W``), a
    date (``2026-03-01``), a date-time (``2026-03-01T09:00:00+01:00``) or an interval, repeating or
    not (``R3/P1W``, ``R/2026-03-01T09:00:00Z/P1D``). When the whole stripped text is such a literal
    (see :func:`is_iso_literal`) it evaluates to that text as a string and reads no variables. This
    wins over reading a variable that happens to be called ``P3M``; a bare date such as
    ``2026-12-31`` is the date, never the subtraction.

Why not simpleeval
    simpleeval 1.0.8 was the preferred evaluator, but it did not fit cleanly: every operator and every
    function would have needed our own guarded replacement (integer bound on every result, deep size
    of built values, no ``%`` formatting, bounded ``round``), list/dict/set displays would have needed
    overriding for the size bound, its name lookup falls back to returning function objects as
    values, an instance keeps per-evaluation state (the expression, comprehension scopes) so it is not
    shareable between threads, it walks every intermediate result recursively after each node (the
    whole of a large task-data list, again and again) and it ships no type information for
    ``mypy --strict``. What would have been left of it is a node dispatch of a few dozen lines, so the
    evaluator here is a small AST walker, and the whitelist check in front of it is ours either way.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain, islice
from typing import Any, Final, NoReturn
from zoneinfo import ZoneInfo

from engine import clock

__all__ = [
    "ALLOWED_FUNCTIONS",
    "ISO_DURATION_RE",
    "ISO_LITERAL_RE",
    "MAX_INT",
    "MAX_NODES",
    "MAX_SIZE",
    "MAX_TEXT_LENGTH",
    "CompiledExpression",
    "ExpressionError",
    "evaluate",
    "expression_names",
    "is_iso_literal",
    "parse_expression",
]

MAX_TEXT_LENGTH: Final = 2000
"""Longest expression text, in characters."""
MAX_NODES: Final = 300
"""Most expression nodes (names, literals, operations, calls, ...) one expression may hold."""
MAX_SIZE: Final = 100_000
"""Largest weight of a text or container the expression builds (see the module docstring)."""
MAX_INT: Final = 10**100
"""Largest magnitude of an integer literal or result."""
MAX_EXPONENT: Final = 100
"""Largest magnitude of the exponent of ``**``."""
MAX_ROUND_DIGITS: Final = 100
"""Largest magnitude of the ``ndigits`` argument of ``round``."""

STOCKHOLM: Final = ZoneInfo("Europe/Stockholm")
"""The time zone ``today()`` answers in."""

_MESSAGE_EXPRESSION_CHARS: Final = 200

# --------------------------------------------------------------------------------------------------
# Errors


class ExpressionError(Exception):
    """Raised for an expression that is not allowed or cannot be evaluated.

    Attributes:
        expression: the expression text as given.
        reason: a plain-language Swedish reason, e.g. ``"Funktionen '__import__' är inte tillåten."``.
        reason_en: the same reason in English.

    ``str(err)`` is the Swedish reason followed by the expression (shortened to 200 characters).
    """

    def __init__(self, expression: str, reason: str, reason_en: str) -> None:
        super().__init__(expression, reason, reason_en)
        self.expression = expression
        self.reason = reason
        self.reason_en = reason_en

    def __str__(self) -> str:
        shown = self.expression
        if len(shown) > _MESSAGE_EXPRESSION_CHARS:
            shown = shown[:_MESSAGE_EXPRESSION_CHARS] + "…"
        return f"{self.reason} Uttryck: {shown}"


class _RejectedError(Exception):
    """Internal: a reason without the expression text, turned into ExpressionError at the boundary."""

    def __init__(self, reason: str, reason_en: str) -> None:
        super().__init__(reason, reason_en)
        self.reason = reason
        self.reason_en = reason_en


def _reject(reason: str, reason_en: str, cause: BaseException | None = None) -> NoReturn:
    raise _RejectedError(reason, reason_en) from cause


# --------------------------------------------------------------------------------------------------
# Bare ISO 8601 literals

_NUM = r"\d+(?:[.,]\d+)?"
_DURATION = (
    rf"P(?:{_NUM}W|(?=\d|T\d)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}D)?"
    rf"(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?)"
)
_DATETIME = r"\d{4}-\d{2}-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
_INTERVAL = (
    rf"(?:R\d*/)?(?:{_DATETIME}/{_DURATION}|{_DURATION}/{_DATETIME}|{_DATETIME}/{_DATETIME})"
    rf"|R\d*/{_DURATION}"
)

ISO_DURATION_RE: Final = re.compile(rf"\A{_DURATION}\Z")
"""An ISO 8601 duration such as ``P3M``, ``P14D``, ``PT12H``, ``P1W`` or ``P1Y2M3DT4H5M6.5S``."""
ISO_LITERAL_RE: Final = re.compile(rf"\A(?:{_DURATION}|{_DATETIME}|{_INTERVAL})\Z")
"""Anything :func:`is_iso_literal` accepts: a duration, a date, a date-time or an interval."""
_DATETIME_RE: Final = re.compile(rf"\A{_DATETIME}\Z")


def is_iso_literal(text: str) -> bool:
    """Tell whether the whole stripped ``text`` is a bare ISO 8601 timer literal.

    Accepted: durations (``P3M``, ``PT12H``, ``P1W``), dates (``2026-03-01``), date-times
    (``2026-03-01T09:00:00+01:00``, ``...Z``) and intervals, repeating or not (``R3/P1W``,
    ``R/2026-03-01T09:00:00Z/P1D``, ``2026-03-01T09:00Z/P1D``). Designators are upper case. The
    dates in it must exist: ``2026-12-32`` is not a literal (and :func:`parse_expression` rejects it
    with a reason rather than reading it as the subtraction ``2026 - 12 - 32``).
    """
    stripped = text.strip()
    return ISO_LITERAL_RE.match(stripped) is not None and _bad_iso_date(stripped) is None


def _bad_iso_date(literal: str) -> str | None:
    """The first date or date-time part of an ISO literal that does not exist, if any."""
    for part in literal.split("/"):
        if _DATETIME_RE.match(part) is None:
            continue
        try:
            if "T" in part:
                datetime.fromisoformat(part)
            else:
                date.fromisoformat(part)
        except ValueError:
            return part
    return None


# --------------------------------------------------------------------------------------------------
# Plain-language names of types and operators


def _type_sv(value: Any) -> str:
    match value:
        case bool():
            return "sanningsvärde"
        case int():
            return "heltal"
        case float():
            return "decimaltal"
        case str():
            return "text"
        case None:
            return "inget värde (None)"
        case list():
            return "lista"
        case tuple():
            return "tupel"
        case dict():
            return "ordbok"
        case set() | frozenset():
            return "mängd"
        case datetime():
            return "tidpunkt"
        case date():
            return "datum"
        case timedelta():
            return "tidsperiod"
    return f"värde av typen {type(value).__name__}"


def _type_en(value: Any) -> str:
    match value:
        case bool():
            return "boolean"
        case int():
            return "integer"
        case float():
            return "decimal number"
        case str():
            return "text"
        case None:
            return "no value (None)"
        case list():
            return "list"
        case tuple():
            return "tuple"
        case dict():
            return "dictionary"
        case set() | frozenset():
            return "set"
        case datetime():
            return "date-time"
        case date():
            return "date"
        case timedelta():
            return "duration"
    return f"value of type {type(value).__name__}"


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value from task data with a broken __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


_BINOP_SYMBOLS: Final[dict[type[ast.operator], str]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_ALLOWED_BINOPS: Final = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)

_CMP_SYMBOLS: Final[dict[type[ast.cmpop], str]] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}

# --------------------------------------------------------------------------------------------------
# The whitelisted functions


def _to_date(name: str, value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(STOCKHOLM).date() if value.tzinfo is not None else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return _to_date(name, datetime.fromisoformat(text))
        except ValueError as exc:
            _reject(
                f"Funktionen '{name}' kan inte tolka {_short(value)} som ett datum (ÅÅÅÅ-MM-DD).",
                f"The function '{name}' cannot read {_short(value)} as a date (YYYY-MM-DD).",
                cause=exc,
            )
    _reject(
        f"Funktionen '{name}' kan inte göra ett datum av {_type_sv(value)}.",
        f"The function '{name}' cannot make a date of {_type_en(value)}.",
    )


def _fn_today() -> date:
    return clock.utcnow().astimezone(STOCKHOLM).date()


def _fn_now() -> datetime:
    return clock.utcnow().astimezone(UTC)


def _fn_date(value: Any) -> date:
    return _to_date("date", value)


def _fn_days_between(start: Any, end: Any) -> int:
    return (_to_date("days_between", end) - _to_date("days_between", start)).days


def _fn_round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return builtins.round(number)
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        _reject(
            f"Funktionen 'round' tar högst {MAX_ROUND_DIGITS} decimaler.",
            f"The function 'round' takes at most {MAX_ROUND_DIGITS} digits.",
        )
    return builtins.round(number, ndigits)


def _fn_sum(values: Iterable[Any], start: Any = 0) -> Any:
    items = list(values)
    for item in chain(items, [start]):
        if not isinstance(item, (int, float)):
            _reject(
                f"Funktionen 'sum' kan bara summera tal, inte {_type_sv(item)}.",
                f"The function 'sum' only adds numbers, not {_type_en(item)}.",
            )
    return builtins.sum(items, start)


@dataclass(frozen=True)
class _Function:
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: any number


_FUNCTIONS: Final[dict[str, _Function]] = {
    "len": _Function(builtins.len, 1, 1),
    "min": _Function(builtins.min, 1, None),
    "max": _Function(builtins.max, 1, None),
    "abs": _Function(builtins.abs, 1, 1),
    "round": _Function(_fn_round, 1, 2),
    "int": _Function(builtins.int, 1, 1),
    "float": _Function(builtins.float, 1, 1),
    "str": _Function(builtins.str, 1, 1),  # guarded in _Evaluator._call
    "bool": _Function(builtins.bool, 1, 1),
    "sum": _Function(_fn_sum, 1, 2),
    "any": _Function(builtins.any, 1, 1),
    "all": _Function(builtins.all, 1, 1),
    "sorted": _Function(builtins.sorted, 1, 1),
    "today": _Function(_fn_today, 0, 0),
    "now": _Function(_fn_now, 0, 0),
    "date": _Function(_fn_date, 1, 1),
    "days_between": _Function(_fn_days_between, 2, 2),
}

ALLOWED_FUNCTIONS: Final = frozenset(_FUNCTIONS)
"""The names an expression may call."""

_ALLOWED_LIST: Final = ", ".join(_FUNCTIONS)

# --------------------------------------------------------------------------------------------------
# Validation (the whitelist)


def _count_nodes(tree: ast.AST) -> int:
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.expr))


def _reject_construct(node: ast.AST) -> NoReturn:
    """Reject any node the grammar does not allow, naming the construct."""
    match node:
        case ast.Attribute(attr=attr):
            _reject(
                f"Attributåtkomst ('.{attr}') är inte tillåten. Läs ett fält med x[\"namn\"].",
                f"Attribute access ('.{attr}') is not allowed. Read a field with x[\"name\"].",
            )
        case ast.Lambda():
            _reject("Lambda-uttryck är inte tillåtna.", "Lambda expressions are not allowed.")
        case ast.ListComp() | ast.SetComp() | ast.DictComp() | ast.GeneratorExp():
            _reject(
                "Listbyggare (comprehensions) och generatoruttryck är inte tillåtna.",
                "Comprehensions and generator expressions are not allowed.",
            )
        case ast.NamedExpr():
            _reject("Tilldelning med ':=' är inte tillåten.", "Assignment with ':=' is not allowed.")
        case ast.JoinedStr() | ast.FormattedValue():
            _reject(
                'F-strängar (f"...") är inte tillåtna. Bygg text med + och str().',
                'f-strings (f"...") are not allowed. Build text with + and str().',
            )
        case ast.Starred():
            _reject("Uppackning med '*' är inte tillåten.", "Unpacking with '*' is not allowed.")
        case ast.Await():
            _reject("'await' är inte tillåtet.", "'await' is not allowed.")
        case ast.Yield() | ast.YieldFrom():
            _reject("'yield' är inte tillåtet.", "'yield' is not allowed.")
        case ast.Slice():
            _reject(
                "Ett snitt (a:b) får bara stå ensamt inom hakparenteser, som i x[1:3].",
                "A slice (a:b) may only stand alone inside brackets, as in x[1:3].",
            )
    name = type(node).__name__
    _reject(f"Konstruktionen '{name}' är inte tillåten.", f"The construct '{name}' is not allowed.")


def _check_name(name: str) -> None:
    if name.startswith("_"):
        _reject(
            f"Namnet '{name}' är inte tillåtet: namn som börjar med '_' är reserverade.",
            f"The name '{name}' is not allowed: names beginning with '_' are reserved.",
        )


def _literal_number(node: ast.expr) -> int | float | None:
    """The value of a literal number, or of a literal number with a sign in front of it."""
    match node:
        case ast.Constant(value=bool()):
            return None
        case ast.Constant(value=int() | float() as value):
            return value
        case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() | float() as value)):
            return -value
        case ast.UnaryOp(op=ast.UAdd(), operand=ast.Constant(value=int() | float() as value)):
            return value
    return None


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


class _Validator:
    """Walks a parsed expression, rejecting anything outside the grammar and collecting names."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def check(self, node: ast.AST) -> None:
        match node:
            case ast.Constant(value=value):
                self._check_constant(value)
            case ast.Name(id=name):
                _check_name(name)
                self.names.add(name)
            case ast.BoolOp(values=values):
                for value_node in values:
                    self.check(value_node)
            case ast.UnaryOp(op=op, operand=operand):
                if isinstance(op, ast.Invert):
                    _reject("Operatorn '~' är inte tillåten.", "The operator '~' is not allowed.")
                self.check(operand)
            case ast.BinOp(left=left, op=op, right=right):
                self._check_binop(left, op, right)
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                operands = [left, *comparators]
                for index, cmp in enumerate(ops):
                    if isinstance(cmp, (ast.Is, ast.IsNot)) and not (
                        _is_none(operands[index]) or _is_none(operands[index + 1])
                    ):
                        _reject(
                            "'is' får bara användas som 'is None' eller 'is not None'; jämför värden med '=='.",
                            "'is' may only be used as 'is None' or 'is not None'; compare values with '=='.",
                        )
                for operand in operands:
                    self.check(operand)
            case ast.IfExp(test=test, body=body, orelse=orelse):
                self.check(test)
                self.check(body)
                self.check(orelse)
            case ast.Subscript(value=value, slice=ast.Slice(lower=lower, upper=upper, step=step)):
                self.check(value)
                for part in (lower, upper, step):
                    if part is not None:
                        self.check(part)
            case ast.Subscript(value=value, slice=index):
                self.check(value)
                self.check(index)
            case ast.Call():
                self._check_call(node)
            case ast.List(elts=elts) | ast.Tuple(elts=elts) | ast.Set(elts=elts):
                for element in elts:
                    self.check(element)
            case ast.Dict(keys=keys, values=values):
                for key, value_node in zip(keys, values, strict=True):
                    if key is None:
                        _reject("Uppackning med '**' är inte tillåten.", "Unpacking with '**' is not allowed.")
                    self.check(key)
                    self.check(value_node)
            case _:
                _reject_construct(node)

    @staticmethod
    def _check_constant(value: object) -> None:
        if value is None or isinstance(value, (bool, str, float)):
            return
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                _reject("Talet är för stort (högst 10**100).", "The number is too large (at most 10**100).")
            return
        if isinstance(value, bytes):
            _reject("Byte-literaler (b'...') är inte tillåtna.", "Bytes literals (b'...') are not allowed.")
        if isinstance(value, complex):
            _reject("Komplexa tal (1j) är inte tillåtna.", "Complex numbers (1j) are not allowed.")
        _reject(f"Värdet {value!r} är inte tillåtet.", f"The value {value!r} is not allowed.")

    def _check_binop(self, left: ast.expr, op: ast.operator, right: ast.expr) -> None:
        if not isinstance(op, _ALLOWED_BINOPS):
            symbol = _BINOP_SYMBOLS.get(type(op), type(op).__name__)
            _reject(f"Operatorn '{symbol}' är inte tillåten.", f"The operator '{symbol}' is not allowed.")
        if isinstance(op, ast.Pow):
            exponent = _literal_number(right)
            if exponent is not None and not abs(exponent) <= MAX_EXPONENT:
                _reject(
                    f"Exponenten i '**' får vara högst {MAX_EXPONENT}.",
                    f"The exponent of '**' may be at most {MAX_EXPONENT}.",
                )
        self.check(left)
        self.check(right)

    def _check_call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute):
                _reject_construct(func)
            _reject(
                "Bara de tillåtna funktionerna kan anropas, direkt med sitt namn, som i len(x).",
                "Only the allowed functions can be called, directly by name, as in len(x).",
            )
        name = func.id
        spec = _FUNCTIONS.get(name)
        if spec is None:
            _reject(
                f"Funktionen '{name}' är inte tillåten. Tillåtna funktioner: {_ALLOWED_LIST}.",
                f"The function '{name}' is not allowed. Allowed functions: {_ALLOWED_LIST}.",
            )
        if node.keywords:
            keyword = node.keywords[0].arg
            shown = f"{keyword}=..." if keyword is not None else "**..."
            _reject(
                f"Namngivna argument ('{shown}') är inte tillåtna i anropet av '{name}'.",
                f"Keyword arguments ('{shown}') are not allowed in the call of '{name}'.",
            )
        for arg in node.args:
            self.check(arg)
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            if spec.max_args is None:
                wanted_sv, wanted_en = f"minst {spec.min_args}", f"at least {spec.min_args} argument(s)"
            elif spec.min_args == spec.max_args:
                wanted_sv = str(spec.min_args)
                wanted_en = f"{spec.min_args} argument{'' if spec.min_args == 1 else 's'}"
            else:
                wanted_sv = f"{spec.min_args} till {spec.max_args}"
                wanted_en = f"{spec.min_args} to {spec.max_args} arguments"
            _reject(
                f"Funktionen '{name}' tar {wanted_sv} argument men fick {count}.",
                f"The function '{name}' takes {wanted_en} but got {count}.",
            )


# --------------------------------------------------------------------------------------------------
# Evaluation


def _too_large_int() -> NoReturn:
    _reject(
        "Talet blir för stort (högst 10**100 till beloppet).",
        "The number gets too large (at most 10**100 in magnitude).",
    )


def _checked(value: Any) -> Any:
    """Enforce the integer bound and refuse complex numbers on a computed value."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        _too_large_int()
    if isinstance(value, complex):
        _reject(
            "Resultatet blir ett komplext tal, vilket inte stöds.",
            "The result is a complex number, which is not supported.",
        )
    return value


def _too_large(what_sv: str, what_en: str) -> NoReturn:
    limit_sv = f"{MAX_SIZE:,}".replace(",", "\u00a0")
    _reject(
        f"{what_sv} överskrider gränsen på {limit_sv} tecken eller element.",
        f"{what_en} exceeds the limit of {MAX_SIZE:,} characters or elements.",
    )


_SEQUENCES: Final = (str, list, tuple)
_CONTAINERS: Final = (list, tuple, set, frozenset, dict)


class _Evaluator:
    """Evaluates one validated tree over one context; one instance per evaluation."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        self._context = context
        self._weights: dict[int, int] = {}
        self._keep: list[Any] = []  # keeps weighed values alive so their ids stay theirs

    # -- size bound ---------------------------------------------------------------------------------

    def _weight(self, value: Any) -> int:
        """The deep size of ``value``: exact up to MAX_SIZE, above it some number over MAX_SIZE.

        A text weighs its length, a container the sum of its elements and keys (deeply), and an empty
        text, an empty container or any other value 1. So a container's weight bounds how many
        references it holds, and ``[[]] * 10**9`` is as heavy as it is big.
        """
        if isinstance(value, str):
            return max(1, len(value))
        if not isinstance(value, _CONTAINERS):
            return 1
        cached = self._weights.get(id(value))
        if cached is not None:
            return cached
        total, steps = 0, 0
        stack: list[Any] = [value]
        while stack:
            item = stack.pop()
            steps += 1
            if isinstance(item, str):
                total += max(1, len(item))
            elif not isinstance(item, _CONTAINERS):
                total += 1
            elif item is not value and id(item) in self._weights:
                total += self._weights[id(item)]
            elif not item:
                total += 1
            else:
                children: Iterable[Any] = chain.from_iterable(item.items()) if isinstance(item, dict) else item
                # Every element weighs at least 1: holding more than the budget means too large.
                budget = MAX_SIZE - total - len(stack)
                pending = list(islice(children, max(budget, 0) + 1))
                if len(pending) > budget:
                    total = MAX_SIZE + 1
                    break
                stack.extend(pending)
            if total > MAX_SIZE or steps > 4 * MAX_SIZE:  # too heavy, or nested too deep (or a cycle)
                total = max(total, MAX_SIZE + 1)
                break
        self._weights[id(value)] = total
        self._keep.append(value)
        return total

    def _check_size(self, value: Any, what_sv: str, what_en: str) -> Any:
        if self._weight(value) > MAX_SIZE:
            _too_large(what_sv, what_en)
        return value

    # -- nodes --------------------------------------------------------------------------------------

    def eval(self, node: ast.expr) -> Any:
        match node:
            case ast.Constant(value=value):
                return value
            case ast.Name(id=name):
                if name not in self._context:
                    _reject(
                        f"Variabeln '{name}' finns inte i ärendets data.",
                        f"The variable '{name}' does not exist in the case data.",
                    )
                return self._context[name]
            case ast.BoolOp(op=op, values=values):
                result: Any = None
                for value_node in values:
                    result = self.eval(value_node)
                    if bool(result) is isinstance(op, ast.Or):
                        break
                return result
            case ast.UnaryOp(op=op, operand=operand):
                return self._unary(op, self.eval(operand))
            case ast.BinOp(left=left, op=op, right=right):
                return self._binop(op, self.eval(left), self.eval(right))
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                current = self.eval(left)
                for cmp, comparator in zip(ops, comparators, strict=True):
                    following = self.eval(comparator)
                    if not self._compare(cmp, current, following):
                        return False
                    current = following
                return True
            case ast.IfExp(test=test, body=body, orelse=orelse):
                return self.eval(body) if self.eval(test) else self.eval(orelse)
            case ast.Subscript(value=value, slice=ast.Slice(lower=lower, upper=upper, step=step)):
                container = self.eval(value)
                bounds = [None if part is None else self.eval(part) for part in (lower, upper, step)]
                for bound in bounds:
                    if bound is not None and not isinstance(bound, int):
                        _reject(
                            f"Gränserna i ett snitt måste vara heltal, inte {_type_sv(bound)}.",
                            f"The bounds of a slice must be integers, not {_type_en(bound)}.",
                        )
                return self._subscript(container, slice(*bounds))
            case ast.Subscript(value=value, slice=index):
                container = self.eval(value)
                return self._subscript(container, self.eval(index))
            case ast.Call(func=ast.Name(id=name), args=args):
                return self._call(name, [self.eval(arg) for arg in args])
            case ast.List(elts=elts):
                return self._check_size([self.eval(e) for e in elts], "Listan", "The list")
            case ast.Tuple(elts=elts):
                return self._check_size(tuple(self.eval(e) for e in elts), "Tupeln", "The tuple")
            case ast.Set(elts=elts):
                elements = [self.eval(e) for e in elts]
                try:
                    built_set = set(elements)
                except TypeError as exc:
                    self._unhashable(exc)
                return self._check_size(built_set, "Mängden", "The set")
            case ast.Dict(keys=keys, values=values):
                built: dict[Any, Any] = {}
                for key_node, value_node in zip(keys, values, strict=True):
                    assert key_node is not None  # rejected by the validator
                    key = self.eval(key_node)
                    item = self.eval(value_node)
                    try:
                        built[key] = item
                    except TypeError as exc:
                        self._unhashable(exc)
                return self._check_size(built, "Ordboken", "The dictionary")
        _reject_construct(node)  # unreachable after validation; defence in depth

    @staticmethod
    def _unhashable(exc: TypeError) -> NoReturn:
        _reject(
            "En lista eller ordbok kan inte vara nyckel i en ordbok eller element i en mängd.",
            "A list or dictionary cannot be a key of a dictionary or an element of a set.",
            cause=exc,
        )

    # -- operations ---------------------------------------------------------------------------------

    @staticmethod
    def _unary(op: ast.unaryop, operand: Any) -> Any:
        if isinstance(op, ast.Not):
            return not operand
        symbol = "-" if isinstance(op, ast.USub) else "+"
        try:
            return _checked(-operand if isinstance(op, ast.USub) else +operand)
        except TypeError as exc:
            _reject(
                f"Operatorn '{symbol}' kan inte användas på {_type_sv(operand)}.",
                f"The operator '{symbol}' cannot be applied to {_type_en(operand)}.",
                cause=exc,
            )

    def _binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        symbol = _BINOP_SYMBOLS[type(op)]
        try:
            match op:
                case ast.Add():
                    self._check_concat(left, right)
                    return _checked(left + right)
                case ast.Sub():
                    return _checked(left - right)
                case ast.Mult():
                    self._check_repeat(left, right)
                    self._check_repeat(right, left)
                    return _checked(left * right)
                case ast.Div():
                    return _checked(left / right)
                case ast.FloorDiv():
                    return _checked(left // right)
                case ast.Mod():
                    if isinstance(left, str):
                        _reject(
                            "Textformatering med '%' är inte tillåten. Bygg text med + och str().",
                            "Text formatting with '%' is not allowed. Build text with + and str().",
                        )
                    return _checked(left % right)
                case ast.Pow():
                    return self._power(left, right)
        except ZeroDivisionError as exc:
            _reject("Division med noll.", "Division by zero.", cause=exc)
        except OverflowError as exc:
            _reject("Talet blir för stort.", "The number gets too large.", cause=exc)
        except TypeError as exc:
            _reject(
                f"Operatorn '{symbol}' kan inte användas mellan {_type_sv(left)} och {_type_sv(right)}.",
                f"The operator '{symbol}' cannot be applied to {_type_en(left)} and {_type_en(right)}.",
                cause=exc,
            )
        _reject_construct(op)  # unreachable after validation

    def _check_concat(self, left: Any, right: Any) -> None:
        """Before ``left + right`` builds a text, list or tuple, check the size of what it would build."""
        if isinstance(left, str) and isinstance(right, str):
            size = len(left) + len(right)
        elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            size = self._weight(left) + self._weight(right)
        else:
            return
        if size > MAX_SIZE:
            _too_large("Resultatet av '+'", "The result of '+'")

    def _check_repeat(self, sequence: Any, count: Any) -> None:
        """Before ``sequence * count`` builds anything, check the size of what it would build."""
        if not (isinstance(sequence, _SEQUENCES) and isinstance(count, int) and count > 1 and len(sequence) > 0):
            return
        if self._weight(sequence) * count > MAX_SIZE:
            _too_large("Resultatet av '*'", "The result of '*'")

    @staticmethod
    def _power(base: Any, exponent: Any) -> Any:
        if isinstance(exponent, (int, float)) and not abs(exponent) <= MAX_EXPONENT:
            _reject(
                f"Exponenten i '**' får vara högst {MAX_EXPONENT}.",
                f"The exponent of '**' may be at most {MAX_EXPONENT}.",
            )
        if (
            isinstance(base, int)
            and isinstance(exponent, int)
            and exponent > 0
            and (abs(base).bit_length() - 1) * exponent >= 333  # then |base| ** exponent >= 2**333 > 10**100
        ):
            _too_large_int()
        return _checked(base**exponent)

    @staticmethod
    def _compare(cmp: ast.cmpop, left: Any, right: Any) -> bool:
        try:
            match cmp:
                case ast.Eq():
                    return bool(left == right)
                case ast.NotEq():
                    return bool(left != right)
                case ast.Lt():
                    return bool(left < right)
                case ast.LtE():
                    return bool(left <= right)
                case ast.Gt():
                    return bool(left > right)
                case ast.GtE():
                    return bool(left >= right)
                case ast.In():
                    return left in right
                case ast.NotIn():
                    return left not in right
                case ast.Is():
                    return left is right
                case ast.IsNot():
                    return left is not right
        except TypeError as exc:
            symbol = _CMP_SYMBOLS[type(cmp)]
            if isinstance(cmp, (ast.In, ast.NotIn)):
                _reject(
                    f"Kan inte söka med '{symbol}' i {_type_sv(right)}.",
                    f"Cannot search with '{symbol}' in {_type_en(right)}.",
                    cause=exc,
                )
            _reject(
                f"Kan inte jämföra {_type_sv(left)} och {_type_sv(right)} med '{symbol}'.",
                f"Cannot compare {_type_en(left)} and {_type_en(right)} with '{symbol}'.",
                cause=exc,
            )
        _reject_construct(cmp)  # unreachable after validation

    @staticmethod
    def _subscript(container: Any, key: Any) -> Any:
        try:
            return container[key]
        except KeyError as exc:
            _reject(f"Nyckeln {_short(key)} finns inte.", f"The key {_short(key)} does not exist.", cause=exc)
        except IndexError as exc:
            size = len(container) if isinstance(container, _SEQUENCES) else "?"
            _reject(
                f"Index {_short(key)} finns inte ({_type_sv(container)} med {size} element).",
                f"Index {_short(key)} does not exist ({_type_en(container)} of {size} elements).",
                cause=exc,
            )
        except ValueError as exc:  # a slice step of zero
            _reject("Steget i ett snitt får inte vara noll.", "The step of a slice must not be zero.", cause=exc)
        except TypeError as exc:
            _reject(
                f"Kan inte slå upp {_type_sv(key)} i {_type_sv(container)}.",
                f"Cannot look up {_type_en(key)} in {_type_en(container)}.",
                cause=exc,
            )

    def _call(self, name: str, args: list[Any]) -> Any:
        spec = _FUNCTIONS[name]
        if name == "str":
            self._check_size(args[0], "Texten", "The text")
        try:
            result = spec.impl(*args)
        except _RejectedError:
            raise
        except OverflowError as exc:
            _reject(
                f"Funktionen '{name}' gav ett för stort tal.",
                f"The function '{name}' gave too large a number.",
                cause=exc,
            )
        except ValueError as exc:
            shown = ", ".join(_short(arg) for arg in args)
            _reject(
                f"Funktionen '{name}' fick ett ogiltigt värde: {shown}.",
                f"The function '{name}' got an invalid value: {shown}.",
                cause=exc,
            )
        except TypeError as exc:
            types_sv = ", ".join(_type_sv(arg) for arg in args)
            types_en = ", ".join(_type_en(arg) for arg in args)
            _reject(
                f"Funktionen '{name}' kan inte användas på {types_sv}.",
                f"The function '{name}' cannot be applied to {types_en}.",
                cause=exc,
            )
        if isinstance(result, str) and len(result) > MAX_SIZE:
            _too_large("Texten", "The text")
        return _checked(result)


# --------------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True, eq=False)
class CompiledExpression:
    """A validated, compiled expression; immutable and safe to share between threads.

    Attributes:
        text: the expression text as given to :func:`parse_expression`.
        names: the variable names the expression reads from the task data (function names in call
            position are not included; a bare ISO literal reads none).
    """

    text: str
    names: frozenset[str]
    _tree: ast.Expression | None = field(default=None, repr=False)
    _literal: str | None = field(default=None, repr=False)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate the expression over ``context`` (the task data).

        Raises:
            ExpressionError: a variable is missing, an operation fails (division by zero, comparing
                text with a number, a missing key, ...) or a bound is exceeded.
        """
        if self._literal is not None:
            return self._literal
        assert self._tree is not None
        try:
            return _Evaluator(context).eval(self._tree.body)
        except _RejectedError as rejected:
            # Chain the original error (a ZeroDivisionError, ...) where there is one, not our marker.
            raise ExpressionError(self.text, rejected.reason, rejected.reason_en) from rejected.__cause__
        except RecursionError as exc:
            raise ExpressionError(
                self.text,
                "Värdena är för djupt nästlade för att beräknas.",
                "The values are nested too deeply to be evaluated.",
            ) from exc
        except Exception as exc:  # a value from task data that misbehaves; never let it escape raw
            kind = type(exc).__name__
            raise ExpressionError(
                self.text,
                f"Uttrycket kunde inte beräknas ({kind}).",
                f"The expression could not be evaluated ({kind}).",
            ) from exc


@functools.lru_cache(maxsize=1024)
def parse_expression(text: str) -> CompiledExpression:
    """Validate and compile ``text``; results are cached (``parse_expression.cache_info()``).

    Raises:
        ExpressionError: the text is empty or too long, is not a valid expression, holds a construct
            or function that is not allowed, is too big, or is a bare ISO date that does not exist.
    """
    if not isinstance(text, str):
        raise ExpressionError(repr(text), "Uttrycket måste vara text.", "The expression must be text.")
    try:
        return _compile(text)
    except _RejectedError as rejected:
        raise ExpressionError(text, rejected.reason, rejected.reason_en) from None


def _compile(text: str) -> CompiledExpression:
    if len(text) > MAX_TEXT_LENGTH:
        _reject(
            f"Uttrycket är för långt ({len(text)} tecken; högst {MAX_TEXT_LENGTH}).",
            f"The expression is too long ({len(text)} characters; at most {MAX_TEXT_LENGTH}).",
        )
    stripped = text.strip()
    if not stripped:
        _reject("Uttrycket är tomt.", "The expression is empty.")
    if ISO_LITERAL_RE.match(stripped) is not None:
        bad = _bad_iso_date(stripped)
        if bad is not None:
            _reject(
                f"Datumet eller tidpunkten '{bad}' finns inte.",
                f"The date or date-time '{bad}' does not exist.",
            )
        return CompiledExpression(text=text, names=frozenset(), _literal=stripped)
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        where_sv = f" (kolumn {exc.offset})" if exc.offset else ""
        where_en = f" (column {exc.offset})" if exc.offset else ""
        _reject(
            f"Uttrycket är inte giltigt{where_sv}: kontrollera parenteser, citattecken och operatorer.",
            f"The expression is not valid{where_en}: check parentheses, quotes and operators.",
        )
    except (ValueError, RecursionError, MemoryError, OverflowError, Warning):
        _reject("Uttrycket är inte giltigt.", "The expression is not valid.")
    nodes = _count_nodes(tree)
    if nodes > MAX_NODES:
        _reject(
            f"Uttrycket är för stort ({nodes} delar; högst {MAX_NODES}).",
            f"The expression is too big ({nodes} parts; at most {MAX_NODES}).",
        )
    validator = _Validator()
    try:
        validator.check(tree.body)
    except RecursionError:  # only when called from deep in someone else's stack
        _reject("Uttrycket är för djupt nästlat.", "The expression is nested too deeply.")
    return CompiledExpression(text=text, names=frozenset(validator.names), _tree=tree)


def evaluate(text: str, context: Mapping[str, Any]) -> Any:
    """Parse (cached) and evaluate ``text`` over ``context``; see :meth:`CompiledExpression.evaluate`."""
    return parse_expression(text).evaluate(context)


def expression_names(text: str) -> frozenset[str]:
    """The variable names ``text`` reads from the task data."""
    return parse_expression(text).names
