"""The training corpus: source files from local trees, filtered, deduplicated, split by file.

By default the trees are Python's standard library, the installed packages, and the other languages'
source the machine has (``source_roots``: JavaScript/TypeScript of globally installed npm packages
and npx's cache, C/C++ headers under /usr/include); any folders the user names are added. Files of every language in ``languages.LANGUAGES`` are used where the machine has
them. The held-out split is decided per file by a hash of its content, so a file and its exact
duplicates always land on the same side and the split is stable across runs.
"""

from __future__ import annotations

import hashlib
import os
import random
import sysconfig
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from diffusion_lsp.eval.languages import language_of

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".mypy_cache", ".tox", "build"}


@dataclass(frozen=True)
class SourceFile:
    """One deduplicated file of the corpus."""

    path: str
    language: str
    text: str


@dataclass(frozen=True)
class Corpus:
    """Train and held-out files (disjoint by content), and what was skipped on the way."""

    train: list[SourceFile]
    heldout: list[SourceFile]
    seen: int  # candidate files found
    duplicates: int
    rejected: int  # too small, too large, not UTF-8, generated or minified

    def summary(self) -> str:
        tb = sum(len(f.text) for f in self.train)
        hb = sum(len(f.text) for f in self.heldout)
        langs: dict[str, int] = {}
        for f in self.train:
            langs[f.language] = langs.get(f.language, 0) + 1
        by_lang = ", ".join(f"{k} {v}" for k, v in sorted(langs.items(), key=lambda kv: -kv[1]))
        return (
            f"{len(self.train)} train files ({tb / 1e6:.1f} MB), {len(self.heldout)} held-out "
            f"({hb / 1e6:.1f} MB); {self.seen} found, {self.duplicates} duplicates, "
            f"{self.rejected} rejected; train by language: {by_lang}"
        )


# Where a machine keeps other languages' source: npm's global packages and npx's cache (JavaScript,
# TypeScript), system headers (C, C++).
SOURCE_ROOTS = (
    "/usr/lib/node_modules",
    "/usr/local/lib/node_modules",
    "~/.npm/_npx/*/node_modules",
    "/usr/include",
    "/usr/local/include",
)


def source_roots(patterns: Iterable[str] = SOURCE_ROOTS) -> list[str]:
    """The folders of ``patterns`` (``~`` and globs expanded) that exist on this machine."""
    import glob

    out: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.expanduser(pattern))):
            if os.path.isdir(path):
                out.append(path)
    return out


def default_roots() -> list[str]:
    """Python's standard library, the directories of installed packages, and ``source_roots``."""
    paths = sysconfig.get_paths()
    roots = [paths["stdlib"], paths["purelib"], paths["platlib"], *source_roots()]
    out: list[str] = []
    for root in roots:
        real = os.path.realpath(root)
        if os.path.isdir(real) and real not in out:
            out.append(real)
    return out


def find_files(roots: Iterable[str]) -> list[tuple[str, str]]:
    """(path, language) for every source file under ``roots``, in a stable order."""
    found: dict[str, str] = {}
    for root in roots:
        if os.path.isfile(root):
            lang = language_of(root)
            if lang:
                found[os.path.realpath(root)] = lang
            continue
        # a root inside a node_modules tree is a package tree: its nested packages are the source
        skip = SKIP_DIRS - {"node_modules"} if "node_modules" in root.split(os.sep) else SKIP_DIRS
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in skip)
            for name in filenames:
                lang = language_of(name)
                if lang:
                    found.setdefault(os.path.realpath(os.path.join(dirpath, name)), lang)
    return sorted(found.items())


def acceptable(text: str, min_chars: int = 200, max_chars: int = 200_000) -> bool:
    """Keep ordinary hand-written source: not tiny, not huge, not minified, not generated data."""
    if not (min_chars <= len(text) <= max_chars):
        return False
    lines = text.count("\n") + 1
    if len(text) / lines > 120:  # minified or data
        return False
    if max(len(line) for line in text.splitlines() or [""]) > 1000:
        return False
    head = text[:1000].lower()
    return "auto-generated" not in head and "do not edit" not in head


def _read(item: tuple[str, str]) -> tuple[str, str, str | None]:
    path, lang = item
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError, ValueError):
        return path, lang, None
    return path, lang, text.replace("\r\n", "\n") if acceptable(text) else None


def content_key(text: str) -> bytes:
    """Dedup key: the content with trailing whitespace and blank lines ignored."""
    norm = "\n".join(line.rstrip() for line in text.splitlines() if line.strip())
    return hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def is_heldout(key: bytes, heldout_permille: int) -> bool:
    """Stable held-out choice from the content key: about ``heldout_permille`` per thousand files."""
    return int.from_bytes(key[:4], "little") % 1000 < heldout_permille


def _iter_read(items: list[tuple[str, str]], workers: int) -> Iterator[tuple[str, str, str | None]]:
    if workers <= 1 or len(items) < 64:
        yield from map(_read, items)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_read, items, chunksize=64)


def build_corpus(
    roots: Iterable[str],
    *,
    max_bytes: int = 300_000_000,
    heldout_permille: int = 10,
    seed: int = 0,
    workers: int = 1,
    other_language_share: float = 0.1,
) -> Corpus:
    """Read, filter and deduplicate the files under ``roots``; split them into train and held-out.

    Files are visited in a seeded random order and reading stops once ``max_bytes`` of accepted
    text is collected, so a cap samples across all trees rather than taking the first. Each
    language other than Python is capped at ``other_language_share`` of ``max_bytes`` (installed
    packages carry many C/C++ headers; Python is the main target).
    """
    items = find_files(roots)
    random.Random(seed).shuffle(items)
    seen_keys: set[bytes] = set()
    train: list[SourceFile] = []
    heldout: list[SourceFile] = []
    duplicates = rejected = total = 0
    per_language: dict[str, int] = {}
    other_cap = int(max_bytes * other_language_share)
    # Read in slices so a byte cap stops the work early.
    step = max(256, workers * 256)
    for start in range(0, len(items), step):
        if total >= max_bytes:
            break
        for path, lang, text in _iter_read(items[start : start + step], workers):
            if text is None:
                rejected += 1
                continue
            key = content_key(text)
            if key in seen_keys:
                duplicates += 1
                continue
            if total >= max_bytes:
                break
            if lang != "python" and per_language.get(lang, 0) + len(text) > other_cap:
                rejected += 1
                continue
            seen_keys.add(key)
            total += len(text)
            per_language[lang] = per_language.get(lang, 0) + len(text)
            (heldout if is_heldout(key, heldout_permille) else train).append(
                SourceFile(path, lang, text)
            )
    return Corpus(train, heldout, len(items), duplicates, rejected)
