"""Parse untrusted files in a separate process with a wall-clock and a memory limit.

unstructured has used over 10 GB on a 23 MB PDF and can loop on malformed ones. Parsing
therefore runs in worker processes: a file that takes too long or grows the worker past
its memory limit gets the worker killed (SIGKILL), the file fails with the reason, and the
server carries on. A worker stays up between files because importing unstructured and
spaCy costs ~5 s; a killed worker is replaced at the next file.

Two limits guard memory: the parent samples the worker's resident size every 50 ms and
kills it past `memory_mb`; the worker also caps its own address space (RLIMIT_AS) a little
above that, so an allocation burst faster than the sampling fails inside the worker with
MemoryError instead of taking the machine down.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import resource
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from ingest.parsing import Element, parse
from rag.config import IngestSettings
from rag.errors import ParseFailed

log = logging.getLogger(__name__)

_POLL_S = 0.05


@dataclass(frozen=True)
class ParseLimits:
    """Per-file limits on the parser worker."""

    timeout_s: float = IngestSettings.model_fields["parse_timeout_s"].default
    memory_mb: int = IngestSettings.model_fields["parse_memory_mb"].default
    # One process unless asked: the service passes RAG_INGEST__PARSE_WORKERS (bootstrap);
    # a parser built by hand (tests, lab tools) should not start a second 0.8 GB process.
    workers: int = 1


def _status_kb(pid: int | str, field: str) -> int:
    """A size field ("VmRSS", "VmSize") of /proc/PID/status in kB; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    return _status_kb(pid, "VmRSS") / 1024


def _worker_main(conn: Connection, memory_mb: int) -> None:
    """Child process: warm up, cap the address space, then parse requests until EOF."""
    from ingest.parsing import use_packaged_spacy_model

    use_packaged_spacy_model()
    # Import the partitioners now, so their size counts before the cap is set.
    import unstructured.partition.auto  # noqa: F401

    cap = (_status_kb("self", "VmSize") + 2 * memory_mb * 1024) * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ValueError, OSError):  # a lower hard limit is already in place: keep it
        pass
    conn.send(("ready", os.getpid()))
    while True:
        try:
            data, name, kind = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", parse(data, name, kind)))
        except ParseFailed as exc:
            conn.send(("failed", str(exc)))
        except MemoryError:
            conn.send(("failed", f"parsing {name!r} ran out of its {memory_mb} MB memory limit"))
        except BaseException as exc:  # anything else still must not kill the worker silently
            conn.send(("failed", f"could not parse {name!r}: {type(exc).__name__}: {exc}"))


class _Worker:
    """One parser process and the parent's end of its pipe."""

    def __init__(self, memory_mb: int):
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, memory_mb), daemon=True,
                                   name="groundwork-parser")
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self, timeout_s: float) -> None:
        if self.ready:
            return
        if not self.conn.poll(timeout_s):
            self.kill()
            raise ParseFailed(f"the parser worker did not start within {timeout_s:.0f} s")
        try:
            self.conn.recv()
        except EOFError as exc:
            raise ParseFailed(f"the parser worker failed to start (exit code {self.process.exitcode})") from exc
        self.ready = True

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()


class IsolatedParser:
    """`parse` in worker processes with limits; thread-safe, `limits.workers` at a time."""

    def __init__(self, limits: ParseLimits = ParseLimits()):
        self.limits = limits
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(limits.workers):
            self._idle.put(None)  # a slot; the worker starts on first use
        self._closed = False
        self._lock = threading.Lock()
        self.killed = 0  # workers stopped for time or memory (for tests and /health)

    def start(self) -> None:
        """Start the workers now (instead of at the first file)."""
        idle = [self._idle.get() for _ in range(self.limits.workers)]
        slots: list[_Worker | None] = list(idle)
        try:
            slots = [w if w is not None and w.alive else _Worker(self.limits.memory_mb) for w in idle]
            for w in slots:
                assert w is not None
                w.wait_ready(self._startup_s)
        finally:
            for w in slots:
                self._idle.put(w)

    @property
    def _startup_s(self) -> float:
        return max(60.0, self.limits.timeout_s)

    def parse(self, data: bytes, filename: str, kind: str) -> list[Element]:
        """Parse in a worker; ParseFailed says why if the file failed, timed out or blew memory."""
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive:
                worker = _Worker(self.limits.memory_mb)
            worker.wait_ready(self._startup_s)
            return self._run(worker, data, filename, kind)
        finally:
            self._idle.put(worker if worker is not None and worker.alive else None)

    def _run(self, worker: _Worker, data: bytes, filename: str, kind: str) -> list[Element]:
        try:
            worker.conn.send((data, filename, kind))
        except (BrokenPipeError, OSError) as exc:
            worker.kill()
            raise ParseFailed(f"the parser worker died before {filename!r} could be sent") from exc
        deadline = time.monotonic() + self.limits.timeout_s
        while not worker.conn.poll(_POLL_S):
            if not worker.alive:
                code = worker.process.exitcode
                worker.kill()
                raise ParseFailed(f"the parser crashed on {filename!r} (exit code {code}); the file is not ingested")
            if rss_mb(worker.process.pid or 0) > self.limits.memory_mb:
                self._stop(worker)
                raise ParseFailed(f"parsing {filename!r} used more than {self.limits.memory_mb} MB; "
                                  "stopped (raise RAG_INGEST__PARSE_MEMORY_MB if the file is genuine)")
            if time.monotonic() > deadline:
                self._stop(worker)
                raise ParseFailed(f"parsing {filename!r} took longer than {self.limits.timeout_s:g} s; "
                                  "stopped (raise RAG_INGEST__PARSE_TIMEOUT_S if the file is genuine)")
        try:
            status, payload = worker.conn.recv()
        except (EOFError, OSError) as exc:
            worker.kill()
            raise ParseFailed(f"the parser crashed on {filename!r}; the file is not ingested") from exc
        if status != "ok":
            raise ParseFailed(payload)
        return payload

    def _stop(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self.killed += 1
        log.warning("parser worker %s stopped for exceeding its limits", worker.process.pid)

    def close(self) -> None:
        """Stop every idle worker."""
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return
            if worker is not None:
                worker.kill()
