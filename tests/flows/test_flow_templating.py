from __future__ import annotations

from whatsapp_builder.flows import ContactInfo
from whatsapp_builder.flows.templating import ELLIPSIS, Scope, render, render_value, truncate

SCOPE = Scope(
    {
        "name": "Ana",
        "order.size": "L",
        "order": {"items": [{"name": "Margherita"}], "total": 12.0},
        "count": 3,
        "flag": True,
        "nothing": None,
    },
    ContactInfo(name="Ana Lima", phone="+15550001111"),
)


def test_simple_and_spaced_placeholders() -> None:
    assert render("Hi {{name}}!", SCOPE) == "Hi Ana!"
    assert render("Hi {{ name }}!", SCOPE) == "Hi Ana!"
    assert render("Hi {{   name}}", SCOPE) == "Hi Ana"


def test_builtins() -> None:
    assert render("{{contact.name}} / {{contact.phone}}", SCOPE) == "Ana Lima / +15550001111"
    assert render("{{contact.name}}", Scope({}, ContactInfo())) == ""


def test_dotted_flat_key_and_nested_paths() -> None:
    assert render("{{order.size}}", SCOPE) == "L"
    assert render("{{order.items.0.name}}", SCOPE) == "Margherita"
    assert render("{{order.total}}", SCOPE) == "12"
    assert render("{{order.items.5.name}}", SCOPE) == ""


def test_missing_and_odd_values() -> None:
    assert render("[{{missing}}]", SCOPE) == "[]"
    assert render("[{{nothing}}]", SCOPE) == "[]"
    assert render("{{count}} {{flag}}", SCOPE) == "3 true"
    assert render("{{order.items}}", SCOPE) == '[{"name": "Margherita"}]'


def test_not_placeholders_are_left_alone() -> None:
    assert render("{{}} {{ 1abc }} {name} {{na me}} {{__import__('os')}}", SCOPE) == (
        "{{}} {{ 1abc }} {name} {{na me}} {{__import__('os')}}"
    )
    assert render("{{{name}}}", SCOPE) == "{Ana}"


def test_no_recursive_expansion() -> None:
    scope = Scope({"a": "{{b}}", "b": "x"}, ContactInfo())
    assert render("{{a}}", scope) == "{{b}}"


def test_render_value_renders_nested_strings() -> None:
    assert render_value({"who": "{{name}}", "list": ["{{count}}", 1, None]}, SCOPE) == {
        "who": "Ana",
        "list": ["3", 1, None],
    }


def test_truncate() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcdef", 4) == "abc" + ELLIPSIS
    assert len(truncate("x" * 5000, 4096)) == 4096
    assert truncate("ab   cdef", 5) == "ab" + ELLIPSIS
    assert truncate("abc", 0) == ""


def test_a_fallback_stands_in_for_a_missing_or_empty_value() -> None:
    nameless = Scope({"empty": "", "zero": 0}, ContactInfo())
    assert render("Hi {{contact.name | there}}!", nameless) == "Hi there!"
    assert render("Hi {{ contact.name|there }}!", SCOPE) == "Hi Ana Lima!"
    assert render("[{{empty | none}}] [{{zero | none}}] [{{missing |}}]", nameless) == "[none] [0] []"
    assert render("{{a | b | c}}", nameless) == "{{a | b | c}}"  # not a placeholder: left as written
