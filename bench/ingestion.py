"""Ingestion: Groundwork vs LangChain on the same HTML pages.

The pages are a seeded sample of the Python 3.11 library reference; Groundwork ingests
them through its real pipeline here, the LangChain peer in its own venv
(bench/peer_langchain.py, run by bench/run.py through bench/peers.py).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import PYDOC, WORK
from ingest.pipeline import IncomingFile
from rag.bootstrap import Runtime


def python_docs(pages: int, seed: int = 0) -> Path:
    """`pages` pages of the Python 3.11 library reference (Debian's python3.11-doc), copied
    into their own folder so both pipelines read exactly the same files."""
    html = PYDOC / "x" / "usr" / "share" / "doc" / "python3.11" / "html" / "library"
    if not html.is_dir():
        PYDOC.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "python3.11-doc"], cwd=PYDOC, check=True, capture_output=True)
        deb = next(PYDOC.glob("python3.11-doc_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(PYDOC / "x")], check=True)
    chosen = sorted(random.Random(seed).sample(sorted(html.glob("*.html")), pages))
    folder = WORK / f"pydoc-{pages}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for page in chosen:
        shutil.copy(page, folder / page.name)
    return folder


def bench_ingest(runtime: Runtime, folder: Path, run: int = 0) -> dict:
    """End-to-end ingest of the pages through the real pipeline, and the bare embedding bound
    (the same embedder alone on the chunks the pipeline produced). Each run its own
    collection, so a repeat ingests everything again."""
    collection = f"bench-ingest-{run}"
    files = [IncomingFile(p.name, p.read_bytes()) for p in sorted(folder.glob("*.html"))]
    started = time.perf_counter()
    outcomes = runtime.ingestor.ingest_many(collection, files)
    elapsed = time.perf_counter() - started
    chunks = sum(o.chunks for o in outcomes)
    with runtime.store.snapshot() as conn:
        texts = [r[0] for r in conn.execute("SELECT text FROM chunks WHERE collection_id = "
                                            "(SELECT id FROM collections WHERE name = ?)", (collection,))]
    started = time.perf_counter()
    runtime.embedder.embed_documents(texts)
    embed_s = time.perf_counter() - started
    return {"documents": len(files), "parse_workers": runtime.settings.ingest.parse_workers,
            "failed": sum(o.status == "failed" for o in outcomes), "chunks": chunks,
            "seconds": round(elapsed, 2), "documents_per_s": round(len(files) / elapsed, 3),
            "chunks_per_s": round(chunks / elapsed, 2), "embed_bound_chunks_per_s": round(len(texts) / embed_s, 2),
            "fraction_of_embed_bound": round((chunks / elapsed) / (len(texts) / embed_s), 3)}
