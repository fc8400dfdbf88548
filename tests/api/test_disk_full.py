"""Disk full, on a real small file system (a tmpfs the test mounts; it needs root, as CI runs,
and skips elsewhere): the upload that finds no space is refused with 507 and leaves nothing
visible or half-indexed; searches and questions keep answering; freeing space recovers."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.bootstrap import Runtime
from tests.api.test_crash import FAST
from tests.server import Server, link_model_cache

C = "full"
WORDS = ["harbour", "ledger", "copper", "willow", "signal", "ferry", "quarry", "lantern", "meadow", "anvil",
         "cobalt", "thistle", "granite", "saffron", "beacon", "orchard", "falcon", "juniper", "tundra", "velvet"]


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _doc(i: int) -> tuple[str, bytes, str]:
    rng = random.Random(i)
    marker = f"{WORDS[i % len(WORDS)]}-{i:04d}"
    paragraphs = [f"## Part {p}\n\n" + " ".join(rng.choice(WORDS) for _ in range(120)) + "." for p in range(40)]
    body = f"# Record {marker}\n\nThis record carries the marker {marker}.\n\n" + "\n\n".join(paragraphs)
    return f"record-{i}.md", body.encode(), marker


def _found(srv: Server, marker: str) -> bool:
    status, body = srv.call("POST", f"/collections/{C}/search", {"query": marker, "top_k": 5})
    assert status == 200, body
    return any(marker in hit["text"] for hit in body["results"])


def test_a_full_disk_refuses_the_write_and_keeps_answering(small_disk: Path, runtime: Runtime) -> None:
    data = small_disk / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)  # the models stay on the big disk
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * 1_500_000)                       # freed later, to recover
    srv = Server(data, **FAST).start()
    try:
        stored: list[str] = []
        refused = None
        for i in range(60):
            name, body, marker = _doc(i)
            status, answer = srv.upload(C, {name: body}, timeout=120)
            if status == 200:
                stored.append(marker)
                continue
            refused = (status, answer, name, marker)
            break
        assert refused is not None, "the disk never filled"
        status, answer, name, marker = refused
        assert status == 507, answer
        assert answer["error"]["code"] == "storage_full" and str(data) in answer["error"]["message"]
        assert len(stored) >= 1
        # Nothing of the refused upload is visible; everything before it still answers.
        listed = {d["name"] for d in srv.call("GET", f"/collections/{C}/documents?limit=1000")[1]["documents"]}
        assert name not in listed and len(listed) == len(stored)
        assert not _found(srv, marker)
        for _ in range(3):
            assert all(_found(srv, m) for m in stored)
        status, asked = srv.call("POST", f"/collections/{C}/query", {"question": f"Which marker is {stored[0]}?"})
        assert status == 200, asked
        assert srv.call("GET", "/health")[0] == 200
        # Room again: the same upload succeeds and is found.
        ballast.unlink()
        status, answer = srv.upload(C, {name: _doc(len(stored))[1]}, timeout=120)
        assert status == 200, answer
        assert _found(srv, marker)
        assert all(_found(srv, m) for m in stored)
    finally:
        srv.stop()
