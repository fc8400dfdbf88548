"""Ingestion workers: how soon a large upload is acknowledged, and documents/s with one and
with two `rag worker` processes on the 60 Python-doc pages (PostgreSQL + Redis, as the
topology test runs them; each worker's CPU time shows where the time goes)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from bench.common import WORK, postgres_database
from tests.server import Server, Worker, link_model_cache

REDIS = os.environ.get("RAG_BENCH_REDIS", "redis://127.0.0.1:6379/14")
FAST = {"RAG_LLM__PRELOAD": "false", "RAG_LOAD_SAMPLES": "false", "RAG_RERANK__MODEL": "none"}


def big_pdf(megabytes: int) -> bytes:
    """A real PDF of about `megabytes` MB: pages of incompressible noise images (reportlab)."""
    import numpy as np
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    rng = np.random.default_rng(0)
    pages = max(1, megabytes // 2)
    for page in range(pages):
        noise = Image.fromarray(rng.integers(0, 256, (820, 820, 3), dtype=np.uint8))
        pdf.drawString(72, 800, f"Scanned page {page + 1}: the archive of the depot ledger.")
        pdf.drawImage(ImageReader(noise), 72, 72, width=450, height=450)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def _cpu_s(pid: int) -> float:
    # utime + stime of the process and its waited-for children (the parser workers), in s.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def _wait_jobs(server: Server, job_ids: list[str], timeout: float = 1800) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [server.call("GET", f"/jobs/{j}")[1] for j in job_ids]
        if all(j["state"] in ("succeeded", "failed", "cancelled") for j in jobs):
            return jobs
        time.sleep(0.2)
    raise TimeoutError(f"jobs {job_ids} did not end")


def bench_workers(pages: Path, model_cache: Path, pdf_mb: int = 20) -> dict:
    """The figures of issue "workers": time to the 202 for a `pdf_mb` MB PDF (median of 3),
    and ingestion documents/s with one and with two workers."""
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    files = {p.name: p.read_bytes() for p in sorted(pages.glob("*.html"))}
    out: dict = {"documents": len(files)}
    with postgres_database("groundwork_bench_workers") as url:
        base = WORK / "workers"
        env = {"RAG_DATABASE_URL": url, "RAG_QUEUE_URL": REDIS, "RAG_FILES_DIR": str(base / "originals"), **FAST}
        for name in ("api", "w1", "w2"):
            link_model_cache(model_cache, base / name)
        api = Server(base / "api", **env).start(timeout=600)
        workers: list[Worker] = []
        try:
            pdf = big_pdf(pdf_mb)
            acks = []
            for attempt in range(3):
                started = time.perf_counter()
                status, body = api.upload(f"bench-pdf-{attempt}", {"ledger.pdf": pdf}, wait=False, timeout=300)
                acks.append(time.perf_counter() - started)
                assert status == 202, body
                api.call("POST", f"/jobs/{body['job_id']}/cancel")  # measured the acknowledgement only
            out["pdf_mb"] = round(len(pdf) / 1e6, 1)
            out["ack_s"] = {"min": round(min(acks), 3), "median": round(sorted(acks)[1], 3), "max": round(max(acks), 3)}
            for count in (1, 2):
                while len(workers) < count:
                    worker = Worker(base / f"w{len(workers) + 1}", env).start()
                    worker.wait_ready()
                    workers.append(worker)
                before = {w.proc.pid: _cpu_s(w.proc.pid) for w in workers if w.proc}
                names = sorted(files)
                shares = [names[i::count] for i in range(count)]  # one job per worker
                started = time.perf_counter()
                job_ids = []
                for share in shares:
                    status, body = api.upload(f"bench-workers-{count}", {n: files[n] for n in share}, wait=False)
                    assert status == 202, body
                    job_ids.append(body["job_id"])
                jobs = _wait_jobs(api, job_ids)
                elapsed = time.perf_counter() - started
                assert all(j["state"] == "succeeded" for j in jobs), jobs
                cpu = {w.proc.pid: round(_cpu_s(w.proc.pid) - before[w.proc.pid], 1) for w in workers if w.proc}
                out[f"workers_{count}"] = {"seconds": round(elapsed, 2),
                                           "documents_per_s": round(len(files) / elapsed, 3),
                                           "worker_cpu_s": list(cpu.values())}
            out["two_over_one"] = round(out["workers_2"]["documents_per_s"] / out["workers_1"]["documents_per_s"], 2)
            out["cores"] = os.cpu_count()
        finally:
            for worker in workers:
                worker.stop()
            api.stop()
    return out
