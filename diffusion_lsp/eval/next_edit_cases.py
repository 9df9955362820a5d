"""Next-edit cases built from real Python files: one refactoring step applied at one site.

Each builder takes a file and returns every case it can make there (``Case``, offsets are str
indices): the user's one edit (``LastEdit`` in the edited text) and the sites that must follow.

- rename-local / rename-param: a function's local (first bound by ``x = ...``, ``for x in``, or
  ``x := ...``) or parameter, used at least twice besides that definition, renamed at the
  definition to a plausible identifier the file does not hold; expected: every other use renamed.
  Names that occur in a nested function, class, lambda or comprehension, in a ``global`` or
  ``nonlocal`` statement, or (parameters) as a keyword argument anywhere in the file are skipped,
  so the uses are exactly the function's own.
- add-param: a parameter appended to a module-level def whose parameters are plain names and which
  is called by name in the same file; expected: each call gains ``name=name``. A call site cannot
  know the value the caller will pass, so the argument is the one the edit alone determines, the
  new parameter's name (what a person threading a new value through writes first); as a keyword it
  is right whatever the argument order.
- change-call: one call of a callee called 2 to 10 times gains a keyword argument; expected: the
  other calls gain the same one.
- no-edit: an edit with no consequence elsewhere: a comment extended, a message string's content
  changed (one that occurs once in the file), an integer changed (one whose literal occurs once).
"""

from __future__ import annotations

import builtins
import keyword
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from diffusion_lsp.eval.next_edit import Case
from diffusion_lsp.eval.next_edit_source import Source, case_of_edit

KINDS = ("rename-local", "rename-param", "add-param", "change-call", "no-edit")
MAX_FUNCTION_LINES = 80
MAX_USES = 12

_NAME_WORDS = (
    "value", "item", "entry", "result", "current", "target", "source", "count", "total",
    "node", "element", "record", "payload", "chunk", "part", "spec", "subject", "candidate",
)  # fmt: skip
_NAME_SUFFIXES = ("value", "obj", "info", "list", "data", "str", "count", "items")
_PARAM_NAMES = (
    "verbose", "strict", "timeout", "encoding", "limit", "context", "logger", "options",
    "prefix", "default", "callback", "flags", "retries", "label",
)  # fmt: skip
_KEYWORDS = (
    ("timeout", "30"), ("strict", "True"), ("verbose", "False"), ("encoding", '"utf-8"'),
    ("check", "True"), ("default", "None"), ("retries", "3"), ("quiet", "True"),
)  # fmt: skip
_COMMENT_TAILS = (" for now", " here", " too", " as before", " (kept simple)")
_STRING_TAILS = (" now", " here", " again", "!", " first")
_NESTED_SCOPES = {
    "function_definition",
    "lambda",
    "class_definition",
    "list_comprehension",
    "set_comprehension",
    "dictionary_comprehension",
    "generator_expression",
}
_RESERVED = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | {"self", "cls"}


def _new_name(old: str, taken: set[str], rng: random.Random) -> str | None:
    for _ in range(8):
        if len(old) <= 2 or rng.random() < 0.5:
            name = rng.choice(_NAME_WORDS)
        else:
            name = f"{old.rstrip('_')}_{rng.choice(_NAME_SUFFIXES)}"
        if name != old and name not in taken and name not in _RESERVED and name.isidentifier():
            return name
    return None


def _functions(src: Source) -> list[Any]:
    out = []
    for n in src.walk():
        if n.type == "function_definition":
            lines = n.end_point[0] - n.start_point[0] + 1
            if lines <= MAX_FUNCTION_LINES:
                out.append(n)
    return out


def _occurrences(fn: Any) -> tuple[dict[str, list[Any]], set[str]]:
    """The function's own identifier uses by name (attribute names and keyword-argument names
    left out), and the names that may not be renamed (seen in a nested scope, a global or
    nonlocal statement, a parameter's default or annotation)."""
    uses: dict[str, list[Any]] = {}
    banned: set[str] = set()

    def visit(node: Any, outer: bool) -> None:
        for i, child in enumerate(node.children):
            field = node.field_name_for_child(i)
            if child.type == "identifier":
                name = child.text.decode()
                if node.type == "attribute" and field == "attribute":
                    continue
                if node.type == "keyword_argument" and field == "name":
                    continue
                if outer or node.type in ("global_statement", "nonlocal_statement"):
                    banned.add(name)
                else:
                    uses.setdefault(name, []).append(child)
                continue
            nested = child.type in _NESTED_SCOPES
            in_default = node.type in (
                "default_parameter",
                "typed_default_parameter",
            ) and field in (
                "value",
                "type",
            )
            in_type = child.type == "type"
            visit(child, outer or nested or in_default or in_type)

    for i, child in enumerate(fn.children):
        if fn.field_name_for_child(i) in ("parameters", "body"):
            visit(child, False)
        elif fn.field_name_for_child(i) == "return_type":
            visit(child, True)
    return uses, banned


def _param_names(fn: Any) -> dict[str, Any]:
    """Parameter name -> its identifier node (self and cls left out)."""
    out = {}
    for p in fn.child_by_field_name("parameters").children:
        node = None
        if p.type == "identifier":
            node = p
        elif p.type in ("typed_parameter",):
            node = p.children[0] if p.children and p.children[0].type == "identifier" else None
        elif p.type in ("default_parameter", "typed_default_parameter"):
            node = p.child_by_field_name("name")
        if node is not None and node.text.decode() not in ("self", "cls"):
            out[node.text.decode()] = node
    return out


def _is_binding(node: Any) -> bool:
    parent = node.parent
    if parent is None:
        return False
    for field in ("left", "name"):
        target = parent.child_by_field_name(field)
        if target is not None and target.id == node.id:
            return parent.type in ("assignment", "for_statement", "named_expression")
    return False


def _keyword_names(src: Source) -> set[str]:
    return {
        n.child_by_field_name("name").text.decode()
        for n in src.walk()
        if n.type == "keyword_argument" and n.child_by_field_name("name") is not None
    }


def rename_cases(src: Source, kind: str, rng: random.Random) -> list[Case]:
    """rename-local or rename-param cases of one file."""
    out = []
    keywords = _keyword_names(src) if kind == "rename-param" else set()
    for fn in _functions(src):
        uses, banned = _occurrences(fn)
        params = _param_names(fn)
        for name, nodes in sorted(uses.items()):
            if (
                name in banned
                or name in _RESERVED
                or len(nodes) - 1 < 2
                or len(nodes) > MAX_USES + 1
            ):
                continue
            if kind == "rename-param":
                if name not in params or name in keywords or nodes[0].id != params[name].id:
                    continue
            elif name in params or not _is_binding(nodes[0]):
                continue
            new = _new_name(name, src.identifiers, rng)
            if new is None:
                continue
            first = src.span(nodes[0])
            sites = [(*src.span(n), new) for n in nodes[1:]]
            case = case_of_edit(src, kind, first[0], (*first, new), sites)
            if case is not None:
                out.append(case)
    return out


def _calls(src: Source) -> dict[str, list[Any]]:
    """Callee text -> its calls, for calls whose arguments take one more keyword argument."""
    out: dict[str, list[Any]] = {}
    for n in src.walk():
        if n.type != "call":
            continue
        args = n.child_by_field_name("arguments")
        if args is None or args.type != "argument_list":
            continue  # f(x for x in y) takes no more arguments
        out.setdefault(n.child_by_field_name("function").text.decode(), []).append(n)
    return out


def _append_argument(src: Source, call: Any, argument: str) -> tuple[int, int, str]:
    """The insertion that appends ``argument`` to ``call``'s argument list."""
    args = call.child_by_field_name("arguments")
    named = [c for c in args.children if c.is_named and c.type != "comment"]
    if not named:
        at = src.pos(args.start_byte) + 1
        return at, at, argument
    at = src.pos(named[-1].end_byte)
    return at, at, ", " + argument


def _disjoint(calls: Sequence[Any]) -> bool:
    spans = sorted((c.start_byte, c.end_byte) for c in calls)
    return all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def add_param_cases(src: Source, rng: random.Random) -> list[Case]:
    out = []
    calls = _calls(src)
    defs: dict[str, list[Any]] = {}
    for n in src.tree.root_node.children:
        fn = n.child_by_field_name("definition") if n.type == "decorated_definition" else n
        if fn is not None and fn.type == "function_definition":
            defs.setdefault(fn.child_by_field_name("name").text.decode(), []).append(fn)
    for name, fns in sorted(defs.items()):
        if len(fns) != 1 or not calls.get(name) or len(calls[name]) > MAX_USES:
            continue
        fn = fns[0]
        params = fn.child_by_field_name("parameters")
        named = [c for c in params.children if c.is_named and c.type != "comment"]
        if any(c.type not in ("identifier", "typed_parameter") for c in named):
            continue
        if any(c.type == "typed_parameter" and c.children[0].type != "identifier" for c in named):
            continue
        new = next((p for p in rng.sample(_PARAM_NAMES, 4) if p not in src.identifiers), None)
        if new is None:
            continue
        if named:
            at = src.pos(named[-1].end_byte)
            edit = (at, at, ", " + new)
        else:
            at = src.pos(params.start_byte) + 1
            edit = (at, at, new)
        sites = [_append_argument(src, c, f"{new}={new}") for c in calls[name]]
        case = case_of_edit(src, "add-param", src.pos(fn.start_byte), edit, sites)
        if case is not None:
            out.append(case)
    return out


def change_call_cases(src: Source, rng: random.Random) -> list[Case]:
    out = []
    for callee, calls in sorted(_calls(src).items()):
        if not 2 <= len(calls) <= 10 or callee in _RESERVED or not _disjoint(calls):
            continue
        present = {
            c.child_by_field_name("name").text.decode()
            for call in calls
            for c in call.child_by_field_name("arguments").children
            if c.type == "keyword_argument"
        }
        choices = [kv for kv in _KEYWORDS if kv[0] not in present]
        if not choices:
            continue
        key, value = rng.choice(choices)
        edited_call = rng.randrange(len(calls))
        argument = f"{key}={value}"
        edit = _append_argument(src, calls[edited_call], argument)
        sites = [
            _append_argument(src, c, argument) for i, c in enumerate(calls) if i != edited_call
        ]
        case = case_of_edit(src, "change-call", edit[0], edit, sites)
        if case is not None:
            out.append(case)
    return out


def no_edit_cases(src: Source, rng: random.Random) -> list[Case]:
    out = []
    nodes = list(src.walk())
    integers: dict[str, int] = {}
    strings: dict[str, int] = {}
    for n in nodes:
        if n.type == "integer":
            integers[n.text.decode()] = integers.get(n.text.decode(), 0) + 1
        elif n.type == "string_content":
            strings[n.text.decode()] = strings.get(n.text.decode(), 0) + 1
    for n in nodes:
        start, end = src.span(n)
        body = n.text.decode()
        if n.type == "comment":
            if body.startswith(("#!", "# type:", "# noqa", "# -*-", "# pragma")) or len(body) < 8:
                continue
            edit = (end, end, rng.choice(_COMMENT_TAILS))
        elif n.type == "string_content":
            prefix = n.parent.children[0].text.decode().lower() if n.parent else ""
            if "f" in prefix or "b" in prefix or strings[body] != 1 or " " not in body.strip():
                continue
            if "\n" in body or "\\" in body[-1:] or "{" in body or "%" in body:
                continue
            edit = (end, end, rng.choice(_STRING_TAILS))
        elif n.type == "integer":
            if not body.isdigit() or integers[body] != 1 or int(body) < 2:
                continue
            edit = (start, end, str(int(body) + 1))
        else:
            continue
        case = case_of_edit(src, "no-edit", start, edit, [])
        if case is not None:
            out.append(case)
    return out


BUILDERS: dict[str, Callable[[Source, random.Random], list[Case]]] = {
    "rename-local": lambda src, rng: rename_cases(src, "rename-local", rng),
    "rename-param": lambda src, rng: rename_cases(src, "rename-param", rng),
    "add-param": add_param_cases,
    "change-call": change_call_cases,
    "no-edit": no_edit_cases,
}


def cases_of_file(text: str, path: str, kind: str, seed: int | str = 0) -> list[Case]:
    """Every case of ``kind`` one Python file yields (none when it does not parse)."""
    src = Source(text, path)
    if src.tree.root_node.has_error:
        return []
    return BUILDERS[kind](src, random.Random(f"{seed}:{kind}:{path}"))


def make_cases(
    files: Iterable[tuple[str, str, str]],
    kinds: Sequence[str] = KINDS,
    n_per_kind: int = 20,
    seed: int = 0,
) -> list[Case]:
    """``n_per_kind`` cases of each kind from the Python ones of ``files`` ((path, language,
    text)): one per file and kind per round, files in a seeded order, so that no file dominates."""
    rng = random.Random(seed)
    files = sorted((p, t) for p, lang, t in files if lang == "python")
    rng.shuffle(files)
    pools: dict[tuple[str, str], list[Case]] = {}
    out: dict[str, list[Case]] = {k: [] for k in kinds}
    for _ in range(4):
        for path, text in files:
            for kind in kinds:
                if len(out[kind]) >= n_per_kind:
                    continue
                if (path, kind) not in pools:
                    pool = cases_of_file(text, path, kind, seed)
                    random.Random(f"{seed}:{path}:{kind}").shuffle(pool)
                    pools[path, kind] = pool
                if pools[path, kind]:
                    out[kind].append(pools[path, kind].pop())
            if all(len(out[k]) >= n_per_kind for k in kinds):
                break
    return [c for k in kinds for c in out[k]]
