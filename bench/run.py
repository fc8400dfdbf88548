"""`make bench`: measure Groundwork and its peers on this machine; write BENCHMARKS.json / .md.

Every section states its data, settings and the command. Absolute times depend on the
(shared, noisy) machine; ratios are measured within one run. The peers (LangChain's
ingestion pipeline, llama.cpp) run in their own venvs under data/bench/envs, built on the
first run (bench/peers.py). The Python documentation pages come from Debian's
python3.11-doc package, fetched with `apt-get download` and unpacked under data/bench.

    .venv/bin/python bench/run.py [--sizes 10000,100000,1000000] [--pages 60] [--skip-peers]
    .venv/bin/python bench/run.py --only generation,answers   (some sections again, merged;
                                                               --help lists them)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

# This file is the entry point (its docstring is the --help text): it runs the sections in
# order in one process, so the figures share a run. The measurements live beside it, one
# module per section: bench/ingestion.py, bench/embedders.py, bench/generation.py,
# bench/answers.py (and startup), bench/retrieval.py (and the approximate index);
# bench/report.py writes BENCHMARKS.json and BENCHMARKS.md; bench/common.py holds the
# paths and helpers they share.

ROOT = Path(__file__).resolve().parents[1]
# The repository root, for rag/ingest/lab/tests and the bench.* modules (run as a script,
# only bench/ itself is on sys.path). bench/ stays in front as it was before the split,
# though nothing imports from it bare any more (peers is now bench.peers).
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench import peers  # noqa: E402
from bench.answers import answers_corpus, bench_answers, bench_concurrency, start_server  # noqa: E402
from bench.common import CONFLICTS, WORK, load_average, machine, postgres_database, repeated  # noqa: E402
from bench.embedders import bench_embedders  # noqa: E402
from bench.engine import bench_engine  # noqa: E402
from bench.generation import (  # noqa: E402
    bench_generation,
    bench_llamacpp,
    bench_service_generator,
    generation_prompts,
)
from bench.ingestion import bench_ingest, python_docs  # noqa: E402
from bench.parsing import bench_parsing  # noqa: E402
from bench.report import rerender, write_reports  # noqa: E402
from bench.retrieval import bench_ann, bench_faiss_threads, bench_retrieval  # noqa: E402
from bench.weights import bench_weights  # noqa: E402
from bench.workers import bench_workers  # noqa: E402
from lab.evaluation import Dataset  # noqa: E402
from rag.bootstrap import build_runtime  # noqa: E402
from rag.config import IngestSettings, Settings  # noqa: E402
from rag.llm.hf_transformers import (
    TransformersGenerator,  # noqa: E402
    llm_dir,  # noqa: E402
)
from rag.models import resolve_embedding_model  # noqa: E402

# The imports above also load, at import time, everything the section modules import at
# their top: the parser workers are spawned, so each one imports this file again as
# __mp_main__ and holds the same modules as before the split.


def section(name: str, fn, *a):
    """Run one section, with the load average before and after it (what else ran)."""
    print(f"{name} ...", flush=True)
    before = load_average()
    value = fn(*a)
    if isinstance(value, dict):
        value["load_average"] = {"before": before, "after": load_average()}
    print(f"  {json.dumps(value)}", flush=True)
    return value


def ingest_sections(runtime, pages: Path, skip_peers: bool) -> dict:
    """Groundwork (three runs), Groundwork with one parser worker, LangChain (three runs)."""
    out = {"parsing": section("parsing per format (spaCy guess on / off)", bench_parsing, runtime)}
    out["ingest"] = section("ingest (Groundwork, 3 runs)", repeated,
                            lambda i: bench_ingest(runtime, pages, i), "documents_per_s")
    # The same with one parser worker process (RAG_INGEST__PARSE_WORKERS=1, less memory).
    one = build_runtime(Settings(data_dir=WORK / "data-1worker", load_samples=False, run_jobs=False,
                                 ingest=IngestSettings(parse_workers=1)),
                        embedder=runtime.embedder, generator=runtime.generator)
    out["ingest_1_worker"] = section("ingest (Groundwork, 1 parser worker)", bench_ingest, one, pages)
    one.parser.close()
    one.store.close()
    if not skip_peers:
        out["langchain"] = section("ingest (LangChain, 3 runs)", repeated, lambda i: peers.run(
            "langchain", "peer_langchain.py", str(pages), str(resolve_embedding_model("default"))),
            "documents_per_s")
    return out


def generation_sections(runtime, settings: Settings, skip_peers: bool) -> dict:
    """transformers, the service's generator and the llama.cpp peer on the same prompts
    (the last two three runs each)."""
    out = {}
    prompts = generation_prompts(runtime, 8)
    transformers_gen = TransformersGenerator(llm_dir(settings))
    out["generation"] = section("generation (transformers)", bench_generation, transformers_gen, prompts)
    tokenizer = transformers_gen._tokenizer
    out["service_generation"] = section("generation (service default, 3 runs)", repeated, lambda i: bench_service_generator(
        runtime.generator, tokenizer, prompts), "gen_tokens_per_s")
    out["service_generation"]["weights"] = settings.llm.llamacpp_weights  # what the report names
    del transformers_gen
    if not skip_peers:
        out["llamacpp"] = section("generation (llama.cpp peer, 3 runs)", repeated,
                                  lambda i: bench_llamacpp(tokenizer, prompts), "gen_tokens_per_s")
    return out


# What `--only NAME` measures again: NAME -> (measure(runtime, settings, args, previous details)
# -> the details keys it replaces, whether the runtime loads the generator). Every other
# figure keeps the run that made it.
def _measure_answers(runtime, settings: Settings, args, _previous: dict) -> dict:
    questions = answers_corpus(runtime, args.answers)
    out = {"answers": section("answers (in process, 3 runs)", repeated,
                              lambda i: bench_answers(runtime, questions), "p50_ms")}
    # The server shares the data directory (SQLite in WAL mode); the in-process runtime idles.
    server, _ = start_server(settings.data_dir)
    try:
        out["concurrent"] = section("answers (1 client, then 8 concurrent clients)", bench_concurrency,
                                    server, questions, 8)
    finally:
        server.stop()
    return out


def _measure_retrieval(runtime, _settings: Settings, args, previous: dict) -> dict:
    ds = Dataset.load(CONFLICTS)
    queries = [ds.queries[q]["text"] for q in list(ds.qrels)[: args.queries]]
    # Sizes measured now replace their rows; the other sizes keep theirs (each row says how
    # many queries it ran).
    merged = dict(previous.get("retrieval", {"sqlite": {}, "postgresql": {}}))
    for store, table in retrieval_tables(runtime, [int(x) for x in args.sizes.split(",")], queries).items():
        merged.setdefault(store, {}).update(table)
    return {"retrieval": merged}


RERUNS = {
    "ingest": (lambda rt, st, args, _: ingest_sections(rt, python_docs(args.pages), args.skip_peers), True),
    "parsing": (lambda rt, st, args, _: {"parsing": section("parsing per format", bench_parsing, rt)}, True),
    "generation": (lambda rt, st, args, _: generation_sections(rt, st, args.skip_peers), True),
    "answers": (_measure_answers, True),
    "weights": (lambda rt, st, args, _: {"weights": section(
        "float16 against Q8_0 answers", bench_weights, rt, answers_corpus(rt, args.weights_questions),
        WORK / "office-docs")}, False),
    "engine": (lambda rt, st, args, _: {"engine": section(
        "answers (through llama.cpp's server)", bench_engine, rt, answers_corpus(rt, args.answers))}, True),
    "workers": (lambda rt, st, args, _: {"workers": section(
        "ingestion workers", bench_workers, python_docs(args.pages), st.model_cache_dir)}, False),
    "retrieval": (_measure_retrieval, False),
}


def rerun(names: list[str], args, command: str) -> None:
    """Measure some sections again, one after the other, and merge them into BENCHMARKS.json
    (after a change to what they measure); every other figure keeps the run that made it."""
    payload = json.loads((ROOT / "BENCHMARKS.json").read_text())
    details = payload["details"]
    for name in names:
        measure, load_llm = RERUNS[name]
        data = WORK / f"data-{name}"
        for item in data.iterdir() if data.is_dir() else []:
            if item.name != "models":  # converted models are kept between runs
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        settings = Settings(data_dir=data, load_samples=False, run_jobs=False)
        runtime = build_runtime(settings, load_llm=load_llm)
        try:
            details.update(measure(runtime, settings, args, details))
        finally:
            runtime.parser.close()
            runtime.store.close()
        details.setdefault("rerun", {})[name] = command
        details["machine_rerun"] = machine()
        write_reports(details, payload["command"])  # after each section: a later one may fail


def retrieval_tables(runtime, sizes: list[int], queries: list[str]) -> dict:
    """The retrieval table on SQLite (`runtime`) and on PostgreSQL, in the same run and with the
    same models: {"sqlite": {size: ...}, "postgresql": {size: ...}}."""
    out: dict[str, dict] = {"sqlite": {}, "postgresql": {}}
    for size in sizes:
        print(f"retrieval {size} (sqlite) ...", flush=True)
        out["sqlite"][str(size)] = bench_retrieval(runtime, size, queries)
        print(f"  {json.dumps(out['sqlite'][str(size)])}", flush=True)
    data = WORK / "data-retrieval-pg"
    shutil.rmtree(data, ignore_errors=True)
    with postgres_database() as url:
        pg = build_runtime(Settings(data_dir=data, load_samples=False, run_jobs=False, database_url=url),
                           load_llm=False, embedder=runtime.embedder, parser=runtime.parser,
                           reranker=runtime.reranker)
        for size in sizes:
            print(f"retrieval {size} (postgresql) ...", flush=True)
            out["postgresql"][str(size)] = bench_retrieval(pg, size, queries)
            print(f"  {json.dumps(out['postgresql'][str(size)])}", flush=True)
        pg.store.close()
    shutil.rmtree(data, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="synthetic collection sizes (chunks)")
    parser.add_argument("--pages", type=int, default=60, help="Python documentation pages to ingest")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--answers", type=int, default=40)
    parser.add_argument("--embed-passages", type=int, default=8000, help="conflicts passages for the embedder section")
    parser.add_argument("--ann-size", type=int, default=100_000)
    parser.add_argument("--skip-peers", action="store_true", help="do not build or run LangChain / llama.cpp")
    parser.add_argument("--rerender", action="store_true", help="only rewrite BENCHMARKS.md from BENCHMARKS.json")
    parser.add_argument("--only", default="", metavar="SECTION[,SECTION]",
                        help="measure only these sections, one after the other, and merge them into "
                             f"BENCHMARKS.json: {', '.join(RERUNS)}")
    parser.add_argument("--weights-questions", type=int, default=200)
    args = parser.parse_args()
    if args.rerender:
        rerender()
        return
    command = "make bench" if sys.argv[1:] == [] else "python bench/run.py " + " ".join(sys.argv[1:])
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in RERUNS]
        if unknown:
            parser.error(f"--only: unknown section {unknown[0]!r}; the sections are {', '.join(RERUNS)}")
        rerun(names, args, command)
        return

    step = section

    for item in WORK.iterdir() if WORK.is_dir() else []:
        if item.name not in ("envs", "pydoc", "models"):  # peers, downloads and exports are kept
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    data = WORK / "data"
    data.mkdir(parents=True)
    settings = Settings(data_dir=data, load_samples=False, run_jobs=False)
    if not args.skip_peers:  # build first, so their compilers do not share the CPU with a measurement
        for peer in peers.PEERS:
            peers.python(peer)
    results: dict = {"machine": machine(), "backend": settings.embedding.backend}
    # Cold start first: nothing cached yet in this data directory.
    cold, cold_s = start_server(data)
    cold.stop()
    runtime = build_runtime(settings)
    ds = Dataset.load(CONFLICTS)
    queries = [ds.queries[q]["text"] for q in list(ds.qrels)[: args.queries]]
    results["queries"] = len(queries)
    pages = python_docs(args.pages)
    results.update(ingest_sections(runtime, pages, args.skip_peers))
    results["embedders"] = step("embedders", bench_embedders, args.embed_passages)
    results.update(generation_sections(runtime, settings, args.skip_peers))
    conflicts = answers_corpus(runtime, max(args.answers, args.weights_questions))
    questions = conflicts[: args.answers]
    results["answers"] = step("answers (in process, 3 runs)", repeated, lambda i: bench_answers(runtime, questions),
                              "p50_ms")
    results["weights"] = step("float16 against Q8_0 answers", bench_weights, runtime,
                              conflicts[: args.weights_questions], WORK / "office-docs")
    results["engine"] = step("answers (through llama.cpp's server)", bench_engine, runtime, questions)
    # The server shares the data directory (SQLite in WAL mode); the in-process runtime idles.
    server, warm_s = start_server(data)
    try:
        results["start"] = {"cold_s": cold_s, "warm_s": warm_s}
        results["concurrent"] = step("answers (1 client, then 8 concurrent clients)", bench_concurrency, server,
                                     questions, 8)
    finally:
        server.stop()
    results["workers"] = step("ingestion workers", bench_workers, pages, settings.model_cache_dir)
    results["faiss_threads"] = step("faiss threads", bench_faiss_threads)
    results["ann"] = step("ann", bench_ann, args.ann_size)
    results["retrieval"] = step("retrieval", retrieval_tables, runtime, [int(s) for s in args.sizes.split(",")],
                                queries)
    runtime.parser.close()
    runtime.store.close()
    write_reports(results, command)
    print("wrote BENCHMARKS.md and BENCHMARKS.json")


if __name__ == "__main__":
    main()
