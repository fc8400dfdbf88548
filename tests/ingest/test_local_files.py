"""`rag ingest` reads files in bounded batches, each only when the previous one is done."""

from __future__ import annotations

from pathlib import Path

from ingest.local_files import find_files, read_batches


def _tree(root: Path) -> None:
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for i in range(7):
        (root / ("a" if i % 2 else "b") / f"note{i}.txt").write_bytes(b"x" * (100 * (i + 1)))
    (root / "a" / "same.md").write_text("# A")
    (root / "b" / "same.md").write_text("# B")


def test_files_below_a_folder_are_named_by_their_relative_path(tmp_path: Path) -> None:
    _tree(tmp_path)
    names = [f.name for f in find_files([tmp_path])]
    assert "a/same.md" in names and "b/same.md" in names and len(names) == 9
    assert [f.name for f in find_files([tmp_path / "a" / "same.md"])] == ["same.md"]


def test_batches_are_bounded_by_bytes_and_files_and_cover_everything(tmp_path: Path) -> None:
    _tree(tmp_path)
    files = find_files([tmp_path])
    batches = list(read_batches(files, max_bytes=1000, max_files=3))
    assert all(len(b) <= 3 for b, _ in batches)
    assert all(sum(len(f.data) for f in b) <= 1000 or len(b) == 1 for b, _ in batches)
    assert sorted(f.name for b, _ in batches for f in b) == sorted(f.name for f in files)


def test_a_batch_is_read_only_when_asked_for(tmp_path: Path) -> None:
    _tree(tmp_path)
    files = find_files([tmp_path])
    batches = read_batches(files, max_bytes=10**9, max_files=2)
    first, _ = next(batches)
    assert len(first) == 2
    files[-1].path.unlink()  # gone before its batch is read: reported, not a crash
    rest = list(batches)
    assert [why for _, unreadable in rest for _, why in unreadable] == [f"cannot read {files[-1].path}: No such file or directory"]
