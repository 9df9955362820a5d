"""Corpus: files found by language, exact duplicates dropped, held-out split decided per file."""

from diffusion_lsp.train.corpus import build_corpus, content_key, is_heldout


def test_corpus_finds_code_drops_duplicates_and_rejects_tiny_files(corpus_dir):
    corpus = build_corpus([str(corpus_dir)], heldout_permille=0)
    names = sorted(f.path.rsplit("/", 1)[-1] for f in corpus.train)
    # dup.py differs from b.py only by trailing blank lines: one of the two is kept
    assert len([n for n in names if n in ("b.py", "dup.py")]) == 1
    assert "a.py" in names and "c.js" in names
    assert "tiny.py" not in names and "notes.txt" not in names
    assert corpus.duplicates == 1
    assert {f.language for f in corpus.train} == {"python", "javascript"}


def test_split_is_by_file_and_stable(corpus_dir):
    everything = build_corpus([str(corpus_dir)], heldout_permille=1000)
    assert not everything.train and len(everything.heldout) == 3
    a = build_corpus([str(corpus_dir)], heldout_permille=500, seed=1)
    b = build_corpus([str(corpus_dir)], heldout_permille=500, seed=2)
    # the same contents are held out whatever the visiting order (which copy of a duplicate is kept may differ)
    assert sorted(content_key(f.text) for f in a.heldout) == sorted(
        content_key(f.text) for f in b.heldout
    )
    for f in a.train:
        assert not is_heldout(content_key(f.text), 500)
    for f in a.heldout:
        assert is_heldout(content_key(f.text), 500)


def test_byte_cap_limits_the_corpus(corpus_dir):
    small = build_corpus([str(corpus_dir)], max_bytes=100, heldout_permille=0)
    assert len(small.train) == 1


def test_a_node_modules_root_reads_its_nested_packages_and_source_roots_expand(tmp_path):
    from diffusion_lsp.train.corpus import find_files, source_roots

    nested = tmp_path / "node_modules" / "pkg" / "node_modules" / "dep"
    nested.mkdir(parents=True)
    (nested / "index.js").write_text("module.exports = 1;\n")
    (tmp_path / "node_modules" / "pkg" / "main.ts").write_text("export const x = 1;\n")
    found = dict(find_files([str(tmp_path / "node_modules")]))
    assert sorted(found.values()) == ["javascript", "typescript"]
    # elsewhere node_modules stays skipped (a project's vendored dependencies)
    assert find_files([str(tmp_path)]) == []
    assert source_roots([str(tmp_path / "node_*"), str(tmp_path / "missing")]) == [
        str(tmp_path / "node_modules")
    ]
