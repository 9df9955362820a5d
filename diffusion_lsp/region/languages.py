"""The grammars: which languages we parse, how they are looked up, and what their nodes mean.

Each language comes from its own tree-sitter grammar wheel (``tree-sitter-python`` and so on), which
works offline. A ``LanguageSpec`` names the node types the intents care about; adding a language is
adding one entry to ``SPECS`` (see docs/regions.md).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field

import tree_sitter

_TODO_COMMENT = '"\\\\b(TODO|FIXME)\\\\b"'


@dataclass(frozen=True)
class LanguageSpec:
    """What region selection needs to know about one grammar."""

    name: str  # canonical name: 'python', 'tsx', ...
    package: str  # the distribution that ships the grammar
    module: str  # its import name
    function: str  # the function in ``module`` that returns the grammar pointer
    extensions: tuple[str, ...]
    # LSP language identifiers that editors use (VS Code language ids, Neovim filetypes): the clients
    # attach to exactly these (clients/nvim config.lua, clients/vscode; tests/test_language_facts.py)
    language_ids: tuple[str, ...]
    functions: frozenset[str]  # node types that are functions (they group holes)
    containers: frozenset[str]  # node types whose named children are statements
    comments: frozenset[str]
    strings: frozenset[str]  # completion makes no sense inside these ...
    interpolations: frozenset[str] = frozenset()  # ... except inside these (code in a string)
    # Query for placeholders. Captures: @hole (always a hole), @comment (TODO/FIXME comment),
    # @call (a hole if its text says "not implemented"), @pass (Python's pass and ...),
    # @function (functions: an empty body is a hole).
    hole_query: str = ""
    colon_headers: bool = False  # a block header ends with ':' (Python)
    keyword_headers: tuple[str, ...] = ()  # a block header ends with one of these (Lua)
    word_chars: str = "_"  # characters of an identifier besides letters and digits
    empty_body_exempt: frozenset[str] = field(
        default_factory=frozenset
    )  # functions whose empty body is fine
    aliases: tuple[str, ...] = ()  # further language ids looked up too; no client attaches to them


def _functions_query(types: list[str]) -> str:
    return "[" + " ".join(f"({t})" for t in types) + "] @function\n"


def _comment_query(types: list[str]) -> str:
    alts = " ".join(f"({t})" for t in types)
    return f"([{alts}] @comment (#match? @comment {_TODO_COMMENT}))\n"


_JS_FUNCTIONS = [
    "function_declaration",
    "function_expression",
    "arrow_function",
    "method_definition",
    "generator_function_declaration",
    "generator_function",
]
_JS_CONTAINERS = frozenset(
    {"program", "statement_block", "class_body", "switch_case", "switch_default"}
)
_JS_STRINGS = frozenset({"string", "template_string", "regex"})
_JS_QUERY = (
    "(throw_statement) @call\n" + _comment_query(["comment"]) + _functions_query(_JS_FUNCTIONS)
)
_C_CONTAINERS = frozenset(
    {
        "translation_unit",
        "compound_statement",
        "field_declaration_list",
        "declaration_list",
        "case_statement",
    }
)
_C_STRINGS = frozenset({"string_literal", "char_literal", "system_lib_string"})


def _js_like(
    name: str, package: str, module: str, function: str, exts, ids, aliases=()
) -> LanguageSpec:
    return LanguageSpec(
        name=name,
        package=package,
        module=module,
        function=function,
        extensions=exts,
        language_ids=ids,
        aliases=aliases,
        functions=frozenset(_JS_FUNCTIONS),
        containers=_JS_CONTAINERS,
        comments=frozenset({"comment"}),
        strings=_JS_STRINGS,
        interpolations=frozenset({"template_substitution"}),
        hole_query=_JS_QUERY,
        word_chars="_$",
    )


SPECS: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in [
        LanguageSpec(
            name="python",
            package="tree-sitter-python",
            module="tree_sitter_python",
            function="language",
            extensions=(".py", ".pyi", ".pyw"),
            language_ids=("python",),
            functions=frozenset({"function_definition"}),
            containers=frozenset({"module", "block"}),
            comments=frozenset({"comment"}),
            strings=frozenset({"string"}),
            interpolations=frozenset({"interpolation"}),
            hole_query="(pass_statement) @pass\n"
            "(expression_statement . (ellipsis) .) @pass\n"
            "(raise_statement) @call\n"
            + _comment_query(["comment"])
            + _functions_query(["function_definition"]),
            colon_headers=True,
        ),
        _js_like(
            "javascript",
            "tree-sitter-javascript",
            "tree_sitter_javascript",
            "language",
            (".js", ".mjs", ".cjs", ".jsx"),
            ("javascript", "javascriptreact"),
            ("jsx",),
        ),
        _js_like(
            "typescript",
            "tree-sitter-typescript",
            "tree_sitter_typescript",
            "language_typescript",
            (".ts", ".mts", ".cts"),
            ("typescript",),
        ),
        _js_like(
            "tsx",
            "tree-sitter-typescript",
            "tree_sitter_typescript",
            "language_tsx",
            (".tsx",),
            ("typescriptreact",),
            ("tsx",),
        ),
        LanguageSpec(
            name="go",
            package="tree-sitter-go",
            module="tree_sitter_go",
            function="language",
            extensions=(".go",),
            language_ids=("go",),
            functions=frozenset({"function_declaration", "method_declaration", "func_literal"}),
            containers=frozenset(
                {
                    "source_file",
                    "block",
                    "statement_list",
                    "expression_case",
                    "default_case",
                    "type_case",
                    "communication_case",
                }
            ),
            comments=frozenset({"comment"}),
            strings=frozenset({"interpreted_string_literal", "raw_string_literal", "rune_literal"}),
            hole_query='(call_expression function: (identifier) @_f (#eq? @_f "panic")) @call\n'
            + _comment_query(["comment"])
            + _functions_query(["function_declaration", "method_declaration", "func_literal"]),
        ),
        LanguageSpec(
            name="rust",
            package="tree-sitter-rust",
            module="tree_sitter_rust",
            function="language",
            extensions=(".rs",),
            language_ids=("rust",),
            functions=frozenset({"function_item", "closure_expression"}),
            containers=frozenset({"source_file", "block", "declaration_list"}),
            comments=frozenset({"line_comment", "block_comment"}),
            strings=frozenset({"string_literal", "raw_string_literal", "char_literal"}),
            hole_query="(macro_invocation macro: (identifier) @_m"
            ' (#any-of? @_m "todo" "unimplemented")) @hole\n'
            + _comment_query(["line_comment", "block_comment"])
            + _functions_query(["function_item", "closure_expression"]),
        ),
        LanguageSpec(
            name="c",
            package="tree-sitter-c",
            module="tree_sitter_c",
            function="language",
            extensions=(".c", ".h"),
            language_ids=("c",),
            functions=frozenset({"function_definition"}),
            containers=_C_CONTAINERS,
            comments=frozenset({"comment"}),
            strings=_C_STRINGS,
            hole_query=_comment_query(["comment"]) + _functions_query(["function_definition"]),
        ),
        LanguageSpec(
            name="cpp",
            package="tree-sitter-cpp",
            module="tree_sitter_cpp",
            function="language",
            extensions=(".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp"),
            language_ids=("cpp",),
            aliases=("c++", "cuda-cpp"),
            functions=frozenset({"function_definition", "lambda_expression"}),
            containers=_C_CONTAINERS,
            comments=frozenset({"comment"}),
            strings=_C_STRINGS | {"raw_string_literal"},
            hole_query="(throw_statement) @call\n"
            + _comment_query(["comment"])
            + _functions_query(["function_definition", "lambda_expression"]),
        ),
        LanguageSpec(
            name="java",
            package="tree-sitter-java",
            module="tree_sitter_java",
            function="language",
            extensions=(".java",),
            language_ids=("java",),
            functions=frozenset(
                {"method_declaration", "constructor_declaration", "lambda_expression"}
            ),
            containers=frozenset(
                {
                    "program",
                    "block",
                    "class_body",
                    "interface_body",
                    "enum_body_declarations",
                    "constructor_body",
                    "switch_block_statement_group",
                }
            ),
            comments=frozenset({"line_comment", "block_comment"}),
            strings=frozenset({"string_literal", "character_literal"}),
            hole_query="(throw_statement) @call\n"
            + _comment_query(["line_comment", "block_comment"])
            + _functions_query(
                ["method_declaration", "constructor_declaration", "lambda_expression"]
            ),
            empty_body_exempt=frozenset({"constructor_declaration"}),
        ),
        LanguageSpec(
            name="lua",
            package="tree-sitter-lua",
            module="tree_sitter_lua",
            function="language",
            extensions=(".lua",),
            language_ids=("lua",),
            functions=frozenset({"function_declaration", "function_definition"}),
            containers=frozenset({"chunk", "block"}),
            comments=frozenset({"comment"}),
            strings=frozenset({"string"}),
            hole_query='(function_call name: (identifier) @_f (#eq? @_f "error")) @call\n'
            + _comment_query(["comment"])
            + _functions_query(["function_declaration", "function_definition"]),
            keyword_headers=("then", "do", "else", "repeat"),
        ),
    ]
}

_BY_ID = {
    lang_id: spec.name for spec in SPECS.values() for lang_id in spec.language_ids + spec.aliases
}
_BY_EXT = {ext: spec.name for spec in SPECS.values() for ext in spec.extensions}


def editor_language_ids() -> tuple[str, ...]:
    """The language ids the editor clients attach to, in ``SPECS`` order (their default lists)."""
    return tuple(lang_id for spec in SPECS.values() for lang_id in spec.language_ids)


def language_for(language_id: str | None, path: str | None = None) -> str | None:
    """The canonical language name for an LSP language id or, failing that, a file's extension.

    None means no grammar: regions fall back to lines.
    """
    if language_id:
        key = language_id.lower()
        if key in SPECS:
            return key
        if key in _BY_ID:
            return _BY_ID[key]
    if path:
        ext = os.path.splitext(path)[1].lower()
        return _BY_EXT.get(ext)
    return None


@functools.cache
def grammar(name: str) -> tree_sitter.Language:
    """The tree-sitter Language for a canonical name (loaded once)."""
    spec = SPECS[name]
    module = importlib.import_module(spec.module)
    return tree_sitter.Language(getattr(module, spec.function)())


@functools.cache
def hole_query(name: str) -> tree_sitter.Query:
    return tree_sitter.Query(grammar(name), SPECS[name].hole_query)


def new_parser(name: str) -> tree_sitter.Parser:
    return tree_sitter.Parser(grammar(name))


def available_languages() -> dict[str, str]:
    """Languages whose grammar loads here: name -> grammar package version."""
    out: dict[str, str] = {}
    for name, spec in SPECS.items():
        try:
            grammar(name)
            out[name] = importlib.metadata.version(spec.package)
        except (ImportError, AttributeError, ValueError, importlib.metadata.PackageNotFoundError):
            continue
    return out
