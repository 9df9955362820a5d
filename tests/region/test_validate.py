"""Validators: a good fill passes, a fill that breaks the tree fails, errors elsewhere don't count."""

from __future__ import annotations

from diffusion_lsp.region import Document, fix_regions, hole_regions, inline_region, refine_region
from diffusion_lsp.textops import Position, Range


def test_hole_fill_python():
    doc = Document("def f(x):\n    pass\n\ndef g():\n    return 1\n", language_id="python")
    (hole,) = hole_regions(doc)
    assert hole.validate("return x * 2")
    assert hole.validate("y = x\n    return y")
    assert not hole.validate("return (x * 2")
    assert not hole.validate("return x *")


def test_hole_fill_rust_and_java():
    rust = Document("fn f(x: u32) -> u32 {\n    todo!()\n}\n", language_id="rust")
    (hole,) = hole_regions(rust)
    assert hole.validate("x + 1") and not hole.validate("x +")
    java = Document("class A {\n  void f() {}\n}\n", language_id="java")
    (body,) = hole_regions(java)
    assert body.text == "" and body.validate(" System.out.println(1); ")
    assert not body.validate(" System.out.println(1 ")


def test_fix_must_remove_the_error():
    doc = Document("function g() {\n  foo(1, 2;\n  return 3;\n}\n", language_id="javascript")
    (fix,) = fix_regions(doc)
    assert fix.text == "foo(1, 2;"
    assert fix.validate("foo(1, 2);")
    assert not fix.validate(fix.text)  # the original still has its error
    assert not fix.validate("foo(1, 2")


def test_errors_elsewhere_do_not_block_a_good_fill():
    text = "def f():\n    pass\n\ndef g(:\n    return 1\n"
    doc = Document(text, language_id="python")
    assert doc.tree.root_node.has_error
    (hole,) = hole_regions(doc, Position(1, 4))
    assert hole.validate("return 2")
    assert not hole.validate("return [2")


def test_fixing_one_error_of_two_is_valid_for_that_region():
    text = "def f(x):\n    y = x +\n    return y\n\ndef g(items):\n    print(items\n"
    doc = Document(text, language_id="python")
    first, second = fix_regions(doc)
    assert first.validate("y = x + 1\n    return y")
    assert second.validate("print(items)")


def test_inline_fill_in_clean_code_must_not_break_it():
    doc = Document("total = compute()\nprint(total)\n", language_id="python")
    region = inline_region(doc, Position(0, 16))
    assert region is not None and region.text == ""
    assert region.validate("1, 2")
    assert not region.validate("1, 2))")
    assert not region.validate("1 2 +")


def test_inline_fill_may_leave_an_existing_error_but_not_add_one():
    # The line is broken before completion; a candidate may finish it or leave it no worse.
    doc = Document("total = compute(\nprint(total)\n", language_id="python")
    region = inline_region(doc, Position(0, 16))
    assert region is not None and region.text == ""
    assert region.validate("1, 2)")
    assert region.validate("1, ")


def test_refine_candidate_must_parse():
    doc = Document("const a = add(1, 2);\n", language_id="javascript")
    region = refine_region(doc, Range(Position(0, 10), Position(0, 19)))
    assert region is not None and region.text == "add(1, 2)"
    assert region.validate("sum([1, 2])")
    assert not region.validate("sum([1, 2)")


def test_validator_is_bound_to_its_snapshot():
    doc = Document("def f():\n    pass\n", language_id="python")
    (hole,) = hole_regions(doc)
    doc.apply_change(Range(Position(0, 0), Position(0, 0)), "import (\n")  # breaks the file later
    assert hole.validate("return 1")


def test_fallback_checks_bracket_balance():
    doc = Document("x = f(a)  TODO\n", path="notes.unknown")
    region = refine_region(doc, Range(Position(0, 4), Position(0, 8)))
    assert region is not None and region.text == "f(a)"
    assert region.validate("g(b, c)") and not region.validate("g(b, c")
