"""Tests for the safe expression evaluator (engine.workflow.expressions)."""

from __future__ import annotations

import keyword
import math
import pickle
import warnings
from collections import ChainMap
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.workflow.expressions import (
    ALLOWED_FUNCTIONS,
    ISO_DURATION_RE,
    MAX_INT,
    MAX_NODES,
    MAX_SIZE,
    MAX_TEXT_LENGTH,
    CompiledExpression,
    ExpressionError,
    evaluate,
    expression_names,
    is_iso_literal,
    parse_expression,
)

CASE: dict[str, Any] = {
    "decision": "revise",
    "aim_met": False,
    "act_decision": "adapt",
    "units": ["Avd 1", "Avd 2", "Avd 3"],
    "measure": {"name": "Väntetid", "target": 30, "values": [41, 35, 28]},
    "count": 4,
    "ratio": 0.75,
    "note": None,
    "started": date(2026, 1, 15),
}


def rejected(text: str, context: dict[str, Any] | None = None) -> ExpressionError:
    """The ExpressionError that evaluating ``text`` raises."""
    with pytest.raises(ExpressionError) as info:
        evaluate(text, CASE if context is None else context)
    return info.value


def rejected_at_parse(text: str) -> ExpressionError:
    """The ExpressionError that parsing ``text`` raises (before any data is seen)."""
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    return info.value


# --------------------------------------------------------------------------------------------------
# What a coordinator writes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('decision == "revise"', True),
        ("decision == 'adopt'", False),
        ("not aim_met", True),
        ('act_decision in ["adapt", "abandon"]', True),
        ('act_decision not in ["adapt", "abandon"]', False),
        ("len(units) > 2", True),
        ("len(units) > 3", False),
        ('"ja" if aim_met else "nej"', "nej"),
        ("units if count > 3 else []", ["Avd 1", "Avd 2", "Avd 3"]),
        ('measure["target"] >= 30 and measure["values"][-1] < measure["target"]', True),
        ("note is None", True),
        ("note is not None", False),
        ("0 < ratio <= 1", True),
        ("0 < ratio < 0.5", False),
        ("count * 2 + 1", 9),
        ("count / 8", 0.5),
        ("count // 3", 1),
        ("count % 3", 1),
        ("-count + +1", -3),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("(1 + 2) * 3", 9),
        ('"Avd " + str(count)', "Avd 4"),
        ("units[1:]", ["Avd 2", "Avd 3"]),
        ("units[::-1][0]", "Avd 3"),
        ('"abcdef"[1:4]', "bcd"),
        ("(1, 2)[0]", 1),
        ('{"a": 1, "b": [2, 3]}["b"][1]', 3),
        ("{1, 2, 2}", {1, 2}),
        ("[]", []),
        ("{}", {}),
        ("True", True),
        ("None", None),
        ("1.5e3", 1500.0),
    ],
)
def test_typical_expressions(text: str, expected: Any) -> None:
    result = evaluate(text, CASE)
    assert result == expected
    assert type(result) is type(expected)


def test_and_or_return_an_operand_like_python() -> None:
    assert evaluate("note or 'ingen'", CASE) == "ingen"
    assert evaluate("count and units", CASE) == CASE["units"]
    assert evaluate("aim_met and missing_variable", CASE) is False  # short-circuits


def test_chained_comparison_evaluates_each_operand_once_and_stops_early() -> None:
    assert evaluate("1 < count < 10 < 100", CASE) is True
    assert evaluate("5 < count < missing_variable", CASE) is False  # never reads the missing name


def test_conditional_evaluates_only_the_branch_taken() -> None:
    assert evaluate("1 if aim_met else 2", CASE) == 2
    assert evaluate("1 / 0 if aim_met else 'ok'", CASE) == "ok"


def test_evaluate_accepts_any_mapping() -> None:
    scope = ChainMap({"a": 1}, {"a": 5, "b": 2})
    assert evaluate("a + b", scope) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("len(units)", 3),
        ("min(3, 1, 2)", 1),
        ("max(measure['values'])", 41),
        ("abs(-2.5)", 2.5),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("int('42')", 42),
        ("int(3.9)", 3),
        ("float('1.5')", 1.5),
        ("str(12)", "12"),
        ("bool('')", False),
        ("sum(measure['values'])", 104),
        ("sum([1, 2], 10)", 13),
        ("sum([0.5, True])", 1.5),
        ("any([False, 0, 'x'])", True),
        ("all([])", True),
        ("sorted([3, 1, 2])", [1, 2, 3]),
        ("sorted(units)[-1]", "Avd 3"),
    ],
)
def test_allowed_functions(text: str, expected: Any) -> None:
    assert evaluate(text, CASE) == expected


def test_allowed_function_list_is_exactly_the_documented_one() -> None:
    documented = {"len", "min", "max", "abs", "round", "int", "float", "str", "bool", "sum", "any", "all"}
    documented |= {"sorted", "today", "now", "date", "days_between"}
    assert documented == ALLOWED_FUNCTIONS


def test_a_function_name_is_a_variable_outside_call_position() -> None:
    context = {"date": "2026-02-01", "sum": 7}
    assert evaluate("date", context) == "2026-02-01"
    assert evaluate("date(date)", context) == date(2026, 2, 1)
    assert evaluate("sum + sum([1])", context) == 8
    assert expression_names("date(date) > started") == frozenset({"date", "started"})
    with pytest.raises(ExpressionError) as info:
        evaluate("len", {})
    assert info.value.reason == "Variabeln 'len' finns inte i ärendets data."


# --------------------------------------------------------------------------------------------------
# Date helpers


@time_machine.travel(datetime(2026, 1, 31, 23, 30, tzinfo=UTC), tick=False)
def test_today_is_the_date_in_stockholm() -> None:
    assert evaluate("today()", {}) == date(2026, 2, 1)  # 00:30 in Stockholm


@time_machine.travel(datetime(2026, 7, 1, 21, 59, tzinfo=UTC), tick=False)
def test_today_follows_summer_time() -> None:
    assert evaluate("today()", {}) == date(2026, 7, 1)  # 23:59 CEST
    assert evaluate("today() > date('2026-06-30')", {}) is True


@time_machine.travel(datetime(2026, 3, 1, 8, 0, tzinfo=UTC), tick=False)
def test_now_is_an_aware_utc_datetime() -> None:
    now = evaluate("now()", {})
    assert now == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert now.utcoffset() == timedelta(0)
    assert evaluate("now() > deadline", {"deadline": datetime(2026, 2, 28, tzinfo=UTC)}) is True


def test_date_helper() -> None:
    assert evaluate('date("2026-01-31")', {}) == date(2026, 1, 31)
    assert evaluate("date(d)", {"d": date(2026, 5, 4)}) == date(2026, 5, 4)
    # an aware datetime gives its date in Stockholm
    assert evaluate("date(t)", {"t": datetime(2026, 1, 31, 23, 30, tzinfo=UTC)}) == date(2026, 2, 1)
    assert evaluate('date("2026-01-31T23:30:00+00:00")', {}) == date(2026, 2, 1)
    err = rejected('date("31/1 2026")', {})
    assert err.reason == "Funktionen 'date' kan inte tolka '31/1 2026' som ett datum (ÅÅÅÅ-MM-DD)."
    assert rejected("date(5)", {}).reason == "Funktionen 'date' kan inte göra ett datum av heltal."


def test_days_between() -> None:
    assert evaluate('days_between(date("2026-01-01"), date("2026-03-01"))', {}) == 59
    assert evaluate('days_between("2026-03-01", "2026-01-01")', {}) == -59
    assert evaluate('days_between(started, "2026-01-20")', CASE) == 5
    aware = {
        "a": datetime(2026, 1, 1, 12, tzinfo=UTC),
        "b": datetime(2026, 1, 2, 1, tzinfo=timezone(timedelta(hours=2))),
    }
    assert evaluate("days_between(a, b)", aware) == 1


# --------------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('decision == "revise"', {"decision"}),
        ("a if b else c", {"a", "b", "c"}),
        ("len(units) > 2 and not aim_met", {"units", "aim_met"}),
        ('measure["target"] + measure["values"][i]', {"measure", "i"}),
        ("x[a:b:c]", {"x", "a", "b", "c"}),
        ("[a, (b,), {c: d}, {e}]", {"a", "b", "c", "d", "e"}),
        ("today() > date(start)", {"start"}),
        ("x is None or x == x", {"x"}),
        ("1 + 2", set()),
        ("'P3M'", set()),
        ("P3M", set()),
        ("ärende_typ == 'akut'", {"ärende_typ"}),
    ],
)
def test_names(text: str, names: set[str]) -> None:
    assert parse_expression(text).names == frozenset(names)
    assert expression_names(text) == frozenset(names)


def test_compiled_expression_is_reusable_and_immutable() -> None:
    compiled = parse_expression("a * 2")
    assert isinstance(compiled, CompiledExpression)
    assert compiled.text == "a * 2"
    assert [compiled.evaluate({"a": n}) for n in (1, 2, 3)] == [2, 4, 6]
    with pytest.raises(AttributeError):
        compiled.text = "a * 3"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# Rejected at parse time


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("__import__('os')", "Funktionen '__import__' är inte tillåten."),
        ("__import__('os').system('ls')", "Attributåtkomst ('.system') är inte tillåten."),
        ("().__class__.__bases__", "Attributåtkomst ('.__bases__') är inte tillåten."),
        ("x.__dict__", "Attributåtkomst ('.__dict__') är inte tillåten."),
        ("measure.name", "Attributåtkomst ('.name') är inte tillåten."),
        ("'{}'.format(1)", "Attributåtkomst ('.format') är inte tillåten."),
        ("[c for c in x]", "Listbyggare (comprehensions) och generatoruttryck är inte tillåtna."),
        ("{c: 1 for c in x}", "Listbyggare (comprehensions) och generatoruttryck är inte tillåtna."),
        ("{c for c in x}", "Listbyggare (comprehensions) och generatoruttryck är inte tillåtna."),
        ("sum(c for c in x)", "Listbyggare (comprehensions) och generatoruttryck är inte tillåtna."),
        ("lambda: 1", "Lambda-uttryck är inte tillåtna."),
        ("(lambda: 1)()", "Bara de tillåtna funktionerna kan anropas"),
        ("open('f')", "Funktionen 'open' är inte tillåten."),
        ("eval('1')", "Funktionen 'eval' är inte tillåten."),
        ("exec('x = 1')", "Funktionen 'exec' är inte tillåten."),
        ("getattr(x, 'y')", "Funktionen 'getattr' är inte tillåten."),
        ("type(x)", "Funktionen 'type' är inte tillåten."),
        ("globals()", "Funktionen 'globals' är inte tillåten."),
        ("units()", "Funktionen 'units' är inte tillåten."),
        ("len(x)(1)", "Bara de tillåtna funktionerna kan anropas"),
        ("(x := 1)", "Tilldelning med ':=' är inte tillåten."),
        ("f'{x}'", "F-strängar"),
        ('f"{x:>999999999}"', "F-strängar"),
        ("[*x]", "Uppackning med '*' är inte tillåten."),
        ("len(*x)", "Uppackning med '*' är inte tillåten."),
        ("{**x}", "Uppackning med '**' är inte tillåten."),
        ("await x", "'await' är inte tillåtet."),
        ("(yield)", "'yield' är inte tillåtet."),
        ("(yield from x)", "'yield' är inte tillåtet."),
        ("_x", "Namnet '_x' är inte tillåtet"),
        ("__builtins__", "Namnet '__builtins__' är inte tillåtet"),
        ("x['a'] + _", "Namnet '_' är inte tillåtet"),
        ("len(x, ndigits=2)", "Namngivna argument ('ndigits=...') är inte tillåtna i anropet av 'len'."),
        ("round(x, ndigits=2)", "Namngivna argument ('ndigits=...') är inte tillåtna i anropet av 'round'."),
        ("len()", "Funktionen 'len' tar 1 argument men fick 0."),
        ("today(1)", "Funktionen 'today' tar 0 argument men fick 1."),
        ("round(1, 2, 3)", "Funktionen 'round' tar 1 till 2 argument men fick 3."),
        ("max()", "Funktionen 'max' tar minst 1 argument men fick 0."),
        ("x is 1", "'is' får bara användas som 'is None' eller 'is not None'"),
        ("x is y", "'is' får bara användas som 'is None' eller 'is not None'"),
        ("x & 1", "Operatorn '&' är inte tillåten."),
        ("x << 1", "Operatorn '<<' är inte tillåten."),
        ("x @ y", "Operatorn '@' är inte tillåten."),
        ("~x", "Operatorn '~' är inte tillåten."),
        ("b'x'", "Byte-literaler"),
        ("1j", "Komplexa tal"),
        ("...", "Värdet Ellipsis är inte tillåtet."),
        ("x[1:2, 3]", "Ett snitt (a:b) får bara stå ensamt inom hakparenteser"),
        ("x ** 101", "Exponenten i '**' får vara högst 100."),
        ("x ** -101", "Exponenten i '**' får vara högst 100."),
        ("10 ** 1e3", "Exponenten i '**' får vara högst 100."),
        ("1" + "0" * 101, "Talet är för stort (högst 10**100)."),
        ("x = 1", "Uttrycket är inte giltigt"),
        ("import os", "Uttrycket är inte giltigt"),
        ("1; 2", "Uttrycket är inte giltigt"),
        ("decision == ", "Uttrycket är inte giltigt"),
        ("'unterminated", "Uttrycket är inte giltigt"),
        ("a\x00b", "Uttrycket är inte giltigt"),
        ("", "Uttrycket är tomt."),
        ("   \n ", "Uttrycket är tomt."),
    ],
)
def test_rejected_at_parse_time(text: str, reason: str) -> None:
    err = rejected_at_parse(text)
    assert err.reason.startswith(reason)
    assert err.reason_en and err.reason_en != err.reason
    assert err.expression == text
    assert str(err).startswith(err.reason)
    assert str(err).endswith(text)


def test_dunder_names_hidden_by_unicode_normalisation_are_rejected() -> None:
    # Python folds identifiers with NFKC (fullwidth "＿" to "_", "ｅ" to "e"); we check the parsed name.
    assert rejected_at_parse("_\uff3fimport\uff3f\uff3f('os')").reason.startswith(
        "Funktionen '__import__' är inte tillåten."
    )
    assert rejected_at_parse("\uff45\uff56\uff41\uff4c('1')").reason.startswith("Funktionen 'eval' är inte tillåten.")
    assert rejected_at_parse("x._\uff3fclass\uff3f_").reason.startswith("Attributåtkomst ('.__class__')")


def test_not_allowed_function_reason_lists_the_allowed_ones() -> None:
    err = rejected_at_parse("open('f')")
    assert err.reason.startswith("Funktionen 'open' är inte tillåten. Tillåtna funktioner: len, min")
    assert err.reason_en.startswith("The function 'open' is not allowed.")


def test_text_length_bound() -> None:
    longest = "1 +" + " " * (MAX_TEXT_LENGTH - 4) + "1"
    assert len(longest) == MAX_TEXT_LENGTH
    assert evaluate(longest, {}) == 2
    err = rejected_at_parse(longest + " ")
    assert err.reason == "Uttrycket är för långt (2001 tecken; högst 2000)."
    assert str(err).endswith("…")  # the message shortens a long expression


def test_node_count_bound() -> None:
    assert evaluate(" + ".join(["1"] * 150), {}) == 150  # 150 literals + 149 additions = 299 nodes
    assert evaluate("-" * (MAX_NODES - 1) + "1", {}) == -1  # 300 nodes, nested 300 deep
    err = rejected_at_parse(" + ".join(["1"] * 151))
    assert err.reason == "Uttrycket är för stort (301 delar; högst 300)."


def test_integer_literal_bound() -> None:
    assert evaluate(str(MAX_INT), {}) == MAX_INT
    assert rejected_at_parse(str(MAX_INT + 1)).reason.startswith("Talet är för stort")


# --------------------------------------------------------------------------------------------------
# Bounds at evaluation time


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("9**9**9", "Exponenten i '**' får vara högst 100."),
        ("2 ** (x * 101)", "Exponenten i '**' får vara högst 100."),
        ("(10 ** 50) ** 3", "Talet blir för stort (högst 10**100 till beloppet)."),
        ("2 ** 100 * 2 ** 100 * 2 ** 100 * 2 ** 100", "Talet blir för stort"),
        ("10 ** 100 + 1", "Talet blir för stort"),
        ("-10 ** 100 - 1", "Talet blir för stort"),
        ("abs(-10 ** 100 - x)", "Talet blir för stort"),
        ("int(1e200)", "Talet blir för stort"),
        ("sum([10 ** 100, 10 ** 100])", "Talet blir för stort"),
        ("1e300 ** 2", "Talet blir för stort."),
        ("(-8) ** 0.5", "Resultatet blir ett komplext tal"),
        ("'a' * 10**9", "Resultatet av '*' överskrider gränsen på 100\u00a0000 tecken eller element."),
        ("10**9 * 'a'", "Resultatet av '*' överskrider gränsen"),
        ("[0] * 10**9", "Resultatet av '*' överskrider gränsen"),
        ("[[0] * 99999] * 2", "Resultatet av '*' överskrider gränsen"),
        ("[[]] * 10**9", "Resultatet av '*' överskrider gränsen"),
        ("'a' * 100000 + 'b'", "Resultatet av '+' överskrider gränsen"),
        ("[[0] * 60000] + [[0] * 60000]", "Resultatet av '+' överskrider gränsen"),
        ("[[0] * 60000, [0] * 60000]", "Listan överskrider gränsen"),
        ("{1: [0] * 60000, 2: [0] * 60000}", "Ordboken överskrider gränsen"),
        ("([0] * 60000, [0] * 60000)", "Tupeln överskrider gränsen"),
        ("str([[0] * 60000] + [[1] * 30000])", "Texten överskrider gränsen"),
        ("str(['a' * 99999])", "Texten överskrider gränsen"),
        ("round(5, -1000)", "Funktionen 'round' tar högst 100 decimaler."),
        ("'%s' % x", "Textformatering med '%' är inte tillåten."),
        ("'%0999999999d' % x", "Textformatering med '%' är inte tillåten."),
    ],
)
def test_bounds_at_evaluation(text: str, reason: str) -> None:
    err = rejected(text, {"x": 1})
    assert err.reason.startswith(reason)
    assert err.reason_en


def test_bounds_allow_values_up_to_the_limit() -> None:
    assert len(evaluate("'a' * 100000", {})) == MAX_SIZE
    assert len(evaluate("'a' * 50000 + 'b' * 50000", {})) == MAX_SIZE
    assert len(evaluate("[0] * 100000", {})) == MAX_SIZE
    assert len(evaluate("[[0] * 50000, [1] * 50000]", {})) == 2
    assert evaluate("'ab' * -3", {}) == ""
    assert evaluate("[] * 10**9", {}) == []
    assert evaluate("2 ** 100", {}) == 2**100
    assert evaluate("(-10) ** 100", {}) == 10**100
    assert evaluate("10 ** -100", {}) == 1e-100
    assert evaluate("round(1234.5, -2)", {}) == 1200.0


def test_large_task_data_can_be_read_but_not_amplified() -> None:
    big = {"rows": list(range(1_000_000)), "text": "x" * 1_000_000}
    assert evaluate("len(rows) + len(text)", big) == 2_000_000
    assert evaluate("rows[-1]", big) == 999_999
    assert evaluate("sorted(rows)[0]", big) == 0
    assert rejected("rows + [1]", big).reason.startswith("Resultatet av '+' överskrider gränsen")
    assert rejected("[rows]", big).reason.startswith("Listan överskrider gränsen")
    assert rejected("str(rows)", big).reason.startswith("Texten överskrider gränsen")
    assert rejected("text + '!'", big).reason.startswith("Resultatet av '+' överskrider gränsen")


def test_self_referencing_or_deeply_nested_data_does_not_escape() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert rejected("[loop]", {"loop": loop}).reason.startswith("Listan överskrider gränsen")
    deep: list[Any] = [1]
    for _ in range(100_000):
        deep = [deep]
    other: list[Any] = [1]
    for _ in range(100_000):
        other = [other]
    err = rejected("deep == other", {"deep": deep, "other": other})
    assert err.reason == "Värdena är för djupt nästlade för att beräknas."


# --------------------------------------------------------------------------------------------------
# Errors while evaluating


def test_missing_variable_is_named() -> None:
    err = rejected("decisoin == 'revise'")
    assert err.reason == "Variabeln 'decisoin' finns inte i ärendets data."
    assert err.reason_en == "The variable 'decisoin' does not exist in the case data."
    assert err.expression == "decisoin == 'revise'"
    assert str(err) == "Variabeln 'decisoin' finns inte i ärendets data. Uttryck: decisoin == 'revise'"


def test_missing_variable_deep_in_an_expression() -> None:
    assert rejected("len(units) > 2 and measure[key]").reason == "Variabeln 'key' finns inte i ärendets data."


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("count / 0", "Division med noll."),
        ("count // 0", "Division med noll."),
        ("count % 0", "Division med noll."),
        ("0 ** -1", "Division med noll."),
        ("'a' < 1", "Kan inte jämföra text och heltal med '<'."),
        ("decision >= count", "Kan inte jämföra text och heltal med '>='."),
        ("note > 1", "Kan inte jämföra inget värde (None) och heltal med '>'."),
        ("started < '2026-01-01'", "Kan inte jämföra datum och text med '<'."),
        ("1 in count", "Kan inte söka med 'in' i heltal."),
        ("decision + count", "Operatorn '+' kan inte användas mellan text och heltal."),
        ("units - 1", "Operatorn '-' kan inte användas mellan lista och heltal."),
        ("-decision", "Operatorn '-' kan inte användas på text."),
        ("measure['owner']", "Nyckeln 'owner' finns inte."),
        ("units[3]", "Index 3 finns inte (lista med 3 element)."),
        ("units['a']", "Kan inte slå upp text i lista."),
        ("count[0]", "Kan inte slå upp heltal i heltal."),
        ("units[::0]", "Steget i ett snitt får inte vara noll."),
        ("units[0.5:]", "Gränserna i ett snitt måste vara heltal, inte decimaltal."),
        ("{[1]: 2}", "En lista eller ordbok kan inte vara nyckel i en ordbok eller element i en mängd."),
        ("{units}", "En lista eller ordbok kan inte vara nyckel i en ordbok eller element i en mängd."),
        ("measure[units]", "Kan inte slå upp lista i ordbok."),
        ("len(count)", "Funktionen 'len' kan inte användas på heltal."),
        ("int('tre')", "Funktionen 'int' fick ett ogiltigt värde: 'tre'."),
        ("min([])", "Funktionen 'min' fick ett ogiltigt värde: []."),
        ("sorted([1, 'a'])", "Funktionen 'sorted' kan inte användas på lista."),
        ("sum(units)", "Funktionen 'sum' kan bara summera tal, inte text."),
        ("sum('abc')", "Funktionen 'sum' kan bara summera tal, inte text."),
        ("float('1e999') + int(float('inf'))", "Funktionen 'int' gav ett för stort tal."),
        ("round(1.5, 'x')", "Funktionen 'round' kan inte användas på decimaltal, text."),
    ],
)
def test_runtime_errors_are_mapped(text: str, reason: str) -> None:
    err = rejected(text)
    assert err.reason == reason
    assert err.reason_en


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("count / 0", ZeroDivisionError),
        ("'a' < 1", TypeError),
        ("measure['owner']", KeyError),
        ("units[3]", IndexError),
        ("int('tre')", ValueError),
        ("missing", type(None)),
    ],
)
def test_the_original_error_is_chained(text: str, cause: type) -> None:
    assert type(rejected(text).__cause__) is cause


def test_misbehaving_task_data_never_escapes_raw() -> None:
    class Hostile:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

        __hash__ = object.__hash__

    err = rejected("x == 1", {"x": Hostile()})
    assert err.reason == "Uttrycket kunde inte beräknas (RuntimeError)."
    assert isinstance(err.__cause__, RuntimeError)


def test_expression_error_pickles() -> None:
    err = rejected("missing")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.expression, copy.reason, copy.reason_en) == (err.expression, err.reason, err.reason_en)
    assert str(copy) == str(err)


def test_non_text_is_rejected() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(None)  # lru_cache lets mypy accept any hashable argument
    assert info.value.reason == "Uttrycket måste vara text."


# --------------------------------------------------------------------------------------------------
# Bare ISO 8601 literals


@pytest.mark.parametrize(
    "text",
    [
        "P3M",
        "P14D",
        "PT12H",
        "P1W",
        "PT0.5S",
        "P1Y2M3DT4H5M6S",
        "R3/P1W",
        "R/PT1H",
        "R5/2026-03-01T09:00:00Z/P1D",
        "2026-03-01T09:00:00+01:00/P2D",
        "2026-03-01T09:00:00+01:00",
        "2026-03-01T09:00Z",
        "2026-03-01",
    ],
)
def test_bare_iso_literals_evaluate_to_themselves(text: str) -> None:
    assert is_iso_literal(text)
    padded = f"\n  {text}  \n"
    assert evaluate(padded, {}) == text
    assert parse_expression(padded).names == frozenset()
    assert evaluate(f'"{text}"', {}) == text


def test_iso_literal_wins_over_a_variable_of_the_same_name() -> None:
    assert evaluate("P3M", {"P3M": "variable"}) == "P3M"
    assert evaluate("R3/P1W", {"R3": 6, "P1W": 2}) == "R3/P1W"  # not a division
    assert evaluate("2026-12-31", {}) == "2026-12-31"  # not 2026 - 12 - 31


@pytest.mark.parametrize(
    "text",
    ["P", "PT", "P1", "P1H", "PT1D", "p3m", "P3M + 1", "P1WT", "R3", "R3/", "2026-3-1", "'P3M'", "x"],
)
def test_not_iso_literals(text: str) -> None:
    assert not is_iso_literal(text)


def test_iso_literal_with_a_date_that_does_not_exist() -> None:
    assert not is_iso_literal("2026-02-30")
    err = rejected_at_parse("2026-02-30T10:00:00Z")
    assert err.reason == "Datumet eller tidpunkten '2026-02-30T10:00:00Z' finns inte."
    assert rejected_at_parse("2026-12-32").reason == "Datumet eller tidpunkten '2026-12-32' finns inte."


def test_iso_duration_re() -> None:
    assert ISO_DURATION_RE.match("P3M")
    assert ISO_DURATION_RE.fullmatch("PT12H")
    assert not ISO_DURATION_RE.match("R3/P1W")
    assert not ISO_DURATION_RE.match("P3MX")


# --------------------------------------------------------------------------------------------------
# Caching


def test_parse_results_are_cached() -> None:
    parse_expression.cache_clear()
    first = parse_expression("len(units) > 2")
    second = parse_expression("len(units) > 2")
    assert first is second
    info = parse_expression.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    assert info.maxsize == 1024
    evaluate("len(units) > 2", CASE)
    assert parse_expression.cache_info().hits == 2


# --------------------------------------------------------------------------------------------------
# Property tests

TOKENS = [
    "x",
    "a",
    "units",
    "measure",
    "note",
    "1",
    "0",
    "2.5",
    "10",
    "99999",
    "'s'",
    '"P3M"',
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "+",
    "-",
    "*",
    "**",
    "/",
    "//",
    "%",
    "==",
    "<",
    ">=",
    "not",
    "and",
    "or",
    "in",
    "is",
    "None",
    "True",
    "if",
    "else",
    "len",
    "min",
    "max",
    "str",
    "int",
    "sum",
    "sorted",
    "round",
    "date",
    "days_between",
    "today",
    "now",
    "lambda",
    ".",
    "__class__",
    "_",
    "P3M",
    "=",
    ":=",
    "for",
]
FUZZ_CONTEXT: dict[str, Any] = {
    "x": [1, "a", {"k": 2}, None],
    "a": 5,
    "units": ["u1", "u2"],
    "measure": {"values": [1, 2.5]},
    "note": None,
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=60),
        st.text(alphabet="ax1 0()[]{}+-*/%<>=!,.:'\"_PTMDRnotiflesu", max_size=40),
        st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join),
        st.lists(st.sampled_from(TOKENS), max_size=14).map("".join),
    )
)
def test_any_text_either_parses_or_raises_expression_error(text: str) -> None:
    try:
        compiled = parse_expression(text)
    except ExpressionError as err:
        assert err.reason and err.reason_en
        return
    try:
        compiled.evaluate(FUZZ_CONTEXT)
    except ExpressionError as err:
        assert err.reason and err.reason_en


@dataclass(frozen=True)
class Expr:
    """A generated expression: its text and the texts of all its subexpressions (itself included)."""

    text: str
    parts: tuple[str, ...]


def _node(text: str, *children: Expr) -> Expr:
    return Expr(text, (text, *(part for child in children for part in child.parts)))


ORACLE_CONTEXT = {"a": 7, "b": -3, "c": 0, "t": True, "f": False}
ORACLE_GLOBALS: dict[str, Any] = {
    "__builtins__": {},
    "abs": abs,
    "int": int,
    "bool": bool,
    "float": float,
    "round": round,
    "min": min,
    "max": max,
    "len": len,
}
# What Python's own eval of a generated expression can raise (ZeroDivisionError and OverflowError are
# ArithmeticErrors; IndexError from [..][i]; ValueError from int(nan)).
ORACLE_ERRORS = (ArithmeticError, TypeError, IndexError, ValueError)
ARITHMETIC = ["+", "-", "*", "/", "//", "%"]
COMPARISONS = ["==", "!=", "<", "<=", ">", ">="]

leaves = st.one_of(
    st.integers(-20, 20).map(lambda n: _node(f"({n})" if n < 0 else str(n))),
    st.sampled_from(["True", "False", "a", "b", "c", "t", "f"]).map(_node),
)


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    def listed(items: list[Expr]) -> str:
        return ", ".join(item.text for item in items)

    def binary(ops: list[str]) -> st.SearchStrategy[Expr]:
        return st.tuples(children, st.sampled_from(ops), children).map(
            lambda t: _node(f"({t[0].text} {t[1]} {t[2].text})", t[0], t[2])
        )

    return st.one_of(
        binary(ARITHMETIC),
        binary(["and", "or"]),
        binary(COMPARISONS),
        st.tuples(children, st.sampled_from(["and", "or"]), children, st.sampled_from(["and", "or"]), children).map(
            lambda t: _node(f"({t[0].text} {t[1]} {t[2].text} {t[3]} {t[4].text})", t[0], t[2], t[4])
        ),
        st.tuples(children, st.sampled_from(COMPARISONS), children, st.sampled_from(COMPARISONS), children).map(
            lambda t: _node(f"({t[0].text} {t[1]} {t[2].text} {t[3]} {t[4].text})", t[0], t[2], t[4])
        ),
        st.tuples(children, st.integers(-2, 3)).map(lambda t: _node(f"({t[0].text} ** {t[1]})", t[0])),
        st.tuples(st.sampled_from(["-", "+", "not "]), children).map(lambda t: _node(f"({t[0]}{t[1].text})", t[1])),
        st.tuples(children, children, children).map(
            lambda t: _node(f"({t[0].text} if {t[1].text} else {t[2].text})", *t)
        ),
        st.tuples(children, st.sampled_from(["in", "not in"]), st.lists(children, max_size=3)).map(
            lambda t: _node(f"({t[0].text} {t[1]} [{listed(t[2])}])", t[0], *t[2])
        ),
        st.tuples(st.sampled_from(["abs", "int", "float", "round", "bool"]), children).map(
            lambda t: _node(f"{t[0]}({t[1].text})", t[1])
        ),
        st.tuples(st.sampled_from(["min", "max"]), children, children).map(
            lambda t: _node(f"{t[0]}({t[1].text}, {t[2].text})", t[1], t[2])
        ),
        st.lists(children, max_size=3).map(lambda items: _node(f"len([{listed(items)}])", *items)),
        st.tuples(st.lists(children, min_size=1, max_size=3), children).map(
            lambda t: _node(f"[{listed(t[0])}][{t[1].text}]", *t[0], t[1])
        ),
        st.tuples(leaves, st.sampled_from(["is None", "is not None"])).map(
            lambda t: _node(f"({t[0].text} {t[1]})", t[0])
        ),
    )


expressions = st.recursive(leaves, _extend, max_leaves=12)


def _python(text: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "'is' with a literal"
        code = compile(text, "<oracle>", "eval")
    return eval(code, dict(ORACLE_GLOBALS), dict(ORACLE_CONTEXT))


def _exceeds_int_bound(text: str) -> bool:
    try:
        value = _python(text)
    except ORACLE_ERRORS:
        return False
    return isinstance(value, int) and abs(value) > MAX_INT


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) and isinstance(theirs, float) and math.isnan(ours):
        return math.isnan(theirs)
    return type(ours) is type(theirs) and repr(ours) == repr(theirs)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_evaluate_agrees_with_python(expr: Expr) -> None:
    try:
        expected = _python(expr.text)
    except ORACLE_ERRORS:
        with pytest.raises(ExpressionError):
            evaluate(expr.text, ORACLE_CONTEXT)
        return
    try:
        result = evaluate(expr.text, ORACLE_CONTEXT)
    except ExpressionError as err:
        # Only the integer bound may make us refuse what Python computes.
        assert any(_exceeds_int_bound(part) for part in expr.parts), (expr.text, err.reason)
        return
    assert _same(result, expected), (expr.text, result, expected)


IDENTIFIER = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
UNDERSCORED = st.from_regex(r"_[A-Za-z0-9_]{0,10}", fullmatch=True) | st.sampled_from(
    ["__class__", "__bases__", "__subclasses__", "__globals__", "__builtins__", "__import__", "__dict__", "_"]
)


@settings(max_examples=100, deadline=None)
@given(
    base=st.sampled_from(["x", "()", "''", "[1]", "x[0]", "len(x)", "(1)", "{}", "x['k']", "(x if y else z)"]),
    attributes=st.lists(IDENTIFIER | UNDERSCORED, min_size=1, max_size=4),
    around=st.sampled_from(["{}", "a + {}", "[{}]", "len({})", "{} == 1", "1 if {} else 2", "y[{}]"]),
)
def test_attribute_chains_are_rejected(base: str, attributes: list[str], around: str) -> None:
    text = around.format(base + "".join("." + name for name in attributes))
    err = rejected_at_parse(text)
    assert err.reason.startswith("Attributåtkomst ('.")


@settings(max_examples=100, deadline=None)
@given(
    name=UNDERSCORED,
    form=st.sampled_from(["{}", "{} + 1", "x[{}]", "len({})", "[{}]", "{}['k']", "{}[0]", "a if {} else b"]),
)
def test_underscore_names_are_rejected(name: str, form: str) -> None:
    err = rejected_at_parse(form.format(name))
    assert err.reason.startswith(f"Namnet '{name}' är inte tillåtet")


@settings(max_examples=100, deadline=None)
@given(
    name=UNDERSCORED | IDENTIFIER.filter(lambda s: s not in ALLOWED_FUNCTIONS),
    arguments=st.sampled_from(["", "1", "x", "'os'"]),
)
def test_calls_to_anything_but_the_allowed_functions_are_rejected(name: str, arguments: str) -> None:
    err = rejected_at_parse(f"{name}({arguments})")
    assert err.reason.startswith(f"Funktionen '{name}' är inte tillåten.")
