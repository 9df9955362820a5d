"""``diffusion-lsp regions``: print the region(s) tree-sitter picks, as a debugging aid.

Lines and columns are 1-based; columns count characters (code points), as compilers print them.
An end column is exclusive: the region stops just before it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from diffusion_lsp.region.base import Intent, Region
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.fix import fix_regions
from diffusion_lsp.region.holes import hole_regions
from diffusion_lsp.region.inline import inline_region
from diffusion_lsp.region.refine import refine_region
from diffusion_lsp.textops import LineIndex, Position, Range

_POINT = re.compile(r"(\d+):(\d+)")


def _point(value: str) -> tuple[int, int]:
    match = _POINT.fullmatch(value.strip())
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise argparse.ArgumentTypeError(f"expected LINE:COL (1-based), got {value!r}")
    return int(match[1]), int(match[2])


def _span(value: str) -> tuple[tuple[int, int], tuple[int, int]]:
    first, sep, second = value.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected L1:C1-L2:C2 (1-based), got {value!r}")
    return _point(first), _point(second)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="source file to read")
    parser.add_argument("--intent", choices=[i.value for i in Intent], required=True)
    parser.add_argument(
        "--at", type=_point, metavar="LINE:COL", help="cursor (inline; optional for hole, fix)"
    )
    parser.add_argument("--range", type=_span, metavar="L1:C1-L2:C2", help="selection (refine)")
    parser.add_argument("--language", help="LSP language id; default: from the file extension")
    parser.add_argument(
        "--max-lines", type=int, default=12, help="line cap for inline (default 12)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list")


class _UsageError(Exception):
    pass


def _position(index: LineIndex, line: int, col: int) -> Position:
    """LSP position of a 1-based line and 1-based code-point column; a clear error if out of range."""
    offset = index.from_human(line, col)
    if offset is not None:
        return index.position(offset)
    if line > index.line_count:
        raise _UsageError(f"line {line} is past the end of the file ({index.line_count} lines)")
    text = index.line_text(line - 1)
    raise _UsageError(f"column {col} is past the end of line {line} ({len(text)} characters)")


def _human(index: LineIndex, pos: Position) -> str:
    return "{}:{}".format(*index.human(index.offset(pos)))


def _select(doc: Document, args: argparse.Namespace) -> list[Region]:
    intent = Intent(args.intent)
    if intent is Intent.REFINE:
        if args.range is None:
            raise _UsageError("--intent refine needs --range L1:C1-L2:C2")
        (l1, c1), (l2, c2) = args.range
        region = refine_region(
            doc, Range(_position(doc.index, l1, c1), _position(doc.index, l2, c2))
        )
        return [region] if region else []
    if args.range is not None:
        raise _UsageError("--range goes with --intent refine; use --at for the others")
    pos = _position(doc.index, *args.at) if args.at else None
    if intent is Intent.INLINE:
        if pos is None:
            raise _UsageError("--intent inline needs --at LINE:COL")
        region = inline_region(doc, pos, max_lines=args.max_lines)
        return [region] if region else []
    return (hole_regions if intent is Intent.HOLE else fix_regions)(doc, pos)


def region_json(doc: Document, region: Region) -> dict:
    return {
        "intent": region.intent.value,
        "start": _human(doc.index, region.range.start),
        "end": _human(doc.index, region.range.end),
        "node_type": region.node_type,
        "text": region.text,
        "group": region.group,
        "max_lines": region.length_hint.max_lines,
    }


def run(args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"diffusion-lsp regions: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    doc = Document(text, language_id=args.language, path=args.file)
    try:
        regions = _select(doc, args)
    except _UsageError as exc:
        print(f"diffusion-lsp regions: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([region_json(doc, r) for r in regions], indent=2, ensure_ascii=False))
        return 0
    if not regions:
        print(f"no {args.intent} region ({doc.language or 'no grammar: line-based'})")
    for region in regions:
        item = region_json(doc, region)
        group = f" group={item['group']}" if item["group"] else ""
        print(
            f"{item['intent']} {item['start']}-{item['end']} {item['node_type']}{group} max_lines={item['max_lines']}"
        )
        body = region.text.splitlines() or ["(insertion)"]
        print("\n".join(f"  | {line}" for line in body))
    return 0
