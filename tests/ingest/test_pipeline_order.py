"""Files parsed in parallel still land in order: outcomes line up with the files, and of two
files with the same name in one call the later one wins (real parser workers, embedder, stores)."""

from __future__ import annotations

from ingest.isolation import IsolatedParser, ParseLimits
from ingest.pipeline import IncomingFile, Ingestor
from rag.bootstrap import Runtime
from rag.types import Filters

C = "parallel-order"


def test_parallel_parsing_keeps_file_order(runtime: Runtime) -> None:
    parser = IsolatedParser(ParseLimits(workers=2))
    ingestor = Ingestor(runtime.store, runtime.indexes, runtime.embedder, runtime.ingestor.chunker,
                        runtime.ingestor.config_hash, runtime.ingestor.files_dir, parser, prepare_threads=2)
    files = [IncomingFile(f"note-{i}.md", f"# Note {i}\n\nThe locker code of room {i} is {1000 + i}.".encode())
             for i in range(9)]
    files.insert(4, IncomingFile("bad.bin", b"\x00\x01\x02 not a document"))
    files.append(IncomingFile("note-3.md", b"# Note 3\n\nThe locker code of room 3 is 7777."))
    try:
        outcomes = ingestor.ingest_many(C, files, batch_chunks=2)  # several batches
    finally:
        parser.close()
    assert [o.name for o in outcomes] == [f.name for f in files]
    assert outcomes[4].status == "failed"
    assert [o.status for o in outcomes[:4] + outcomes[5:10]] == ["added"] * 9
    assert outcomes[-1].status == "updated"
    hits = runtime.service.retriever.retrieve(C, "locker code of room 3", 1, Filters(), "lexical")
    assert "7777" in hits[0].chunk.text
