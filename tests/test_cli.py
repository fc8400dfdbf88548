"""The `rag` command on real files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.bootstrap import Runtime
from rag.cli import app
from tests import docs


def test_ingest_then_search_and_rerun_is_noop(tmp_path: Path, runtime: Runtime) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "ferries.md").write_bytes(docs.markdown("Ferries", {"Timetable": "The Kelby ferry leaves at 06:10."}))
    (folder / "sub" / "notes.docx").write_bytes(docs.docx("Notes", {"Stores": "The Kelby store sells rope."}))
    (folder / "sub" / "junk.bin").write_bytes(b"\x00\x01\x02" * 100)
    (folder / "other").mkdir()
    (folder / "other" / "notes.docx").write_bytes(docs.docx("Notes", {"Stores": "The Kelby mill grinds oats."}))
    data = ["--data-dir", str(tmp_path / "data")]
    runner = CliRunner()

    first = runner.invoke(app, ["ingest", str(folder), "--collection", "cli", *data])
    assert first.exit_code == 0, first.output
    assert "3 added" in first.output and "1 failed" in first.output and "junk.bin" in first.output

    again = runner.invoke(app, ["ingest", str(folder), "--collection", "cli", *data])
    assert "3 unchanged" in again.output

    found = runner.invoke(app, ["search", "When does the Kelby ferry leave?", "-c", "cli", *data])
    ranked = [line.split() for line in found.output.splitlines() if re.match(r"^-?\d\.\d{3}  ", line)]
    assert found.exit_code == 0 and ranked and ranked[0][1] == "ferries.md", found.output

    listed = runner.invoke(app, ["collections", *data])
    assert "cli\t3 documents" in listed.output  # sub/notes.docx and other/notes.docx are two


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope"), "-c", "x", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "no such file" in result.output


def test_refusal_thresholds_must_be_numbers(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "refusal", "--dataset", str(tmp_path), "--thresholds", "0.4,high",
                                      "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--thresholds takes numbers" in result.output


def test_serve_with_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path, monkeypatch) -> None:
    from tests.server import free_port

    monkeypatch.setenv("RAG_DATABASE_URL", f"postgresql://groundwork:pw@127.0.0.1:{free_port()}/groundwork")
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot open the store" in result.output and "not reachable" in result.output
    assert "pw" not in result.output and "Traceback" not in result.output


def test_store_copy_into_a_non_empty_store_is_refused(tmp_path: Path) -> None:
    from rag.store.sqlite import SQLiteStore

    target = tmp_path / "target.sqlite3"
    store = SQLiteStore(target)
    store.open()
    store.connection().execute("INSERT INTO collections(name, created_at) VALUES ('x', '2026-12-01T00:00:00+00:00')")
    store.close()
    result = CliRunner().invoke(app, ["store", "copy", "--data-dir", str(tmp_path / "data"), "--to", str(target)])
    assert result.exit_code != 0 and "empty database" in result.output


def test_serve_on_a_damaged_database_is_one_line_naming_it_and_the_way_back(tmp_path: Path) -> None:
    from tests.server import free_port

    (tmp_path / "groundwork.sqlite3").write_bytes(b"this is not a database, it was overwritten " * 200)
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert str(tmp_path / "groundwork.sqlite3") in lines[0] and "rag restore" in lines[0]


def test_serve_on_a_read_only_data_directory_is_one_line_naming_it(tmp_path: Path) -> None:
    """A read-only mount (root can write through file modes, so the test mounts one, as CI can)."""
    import os
    import subprocess

    from rag.store.sqlite import SQLiteStore
    from tests.server import free_port

    if os.geteuid() != 0:
        pytest.skip("mounting a read-only file system needs root (CI runs as root)")
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        store = SQLiteStore(mount / "groundwork.sqlite3")
        store.open()
        store.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        result = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--data-dir", str(mount)])
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
        assert str(mount) in lines[0] and "cannot be written" in lines[0] and "writable" in lines[0], lines[0]
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
