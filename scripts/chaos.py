"""`make chaos`: a soak that says what it survived.

For a set time, a real `rag serve` takes a mixed load (uploads, updates, deletes, questions,
folder syncs) and is killed with SIGKILL at random moments; after each restart the crash
tests' invariants are checked (every acknowledged document retrievable through FAISS, no
deleted one, FAISS ids equal to the database's chunk ids, no content stored twice). The
report (operations, kills, restarts, documents checked, lost) goes to data/chaos/report.md.

    python scripts/chaos.py --minutes 10 [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.pipeline import document_id  # noqa: E402
from tests.api.test_crash import FAST, C, Ledger, check_invariants, marker_doc  # noqa: E402
from tests.server import Server, link_model_cache  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "chaos")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.out / "run"
    if work.exists():
        import shutil
        shutil.rmtree(work)
    data, folder = work / "data", work / "folder"
    folder.mkdir(parents=True)
    if (ROOT / "data" / "models").is_dir():  # converted models of `make serve`: not converted again
        link_model_cache(ROOT / "data" / "models", data)
    ledger = Ledger()
    ops: Counter[str] = Counter()
    kills = restarts = checks = 0
    unverified = 0  # documents whose update was cut off: either version may stand
    counter = iter(range(1_000_000))
    names: dict[str, str] = {}  # document id -> file name
    deadline = time.monotonic() + args.minutes * 60
    srv = Server(data, **FAST).start()
    status, _ = srv.call("POST", "/sources", {"path": str(folder), "collection": "chaos-folder",
                                              "schedule": "* * * * *"})
    assert status == 201

    while time.monotonic() < deadline:
        stop = threading.Event()

        def load(srv: Server = srv, stop: threading.Event = stop) -> None:
            nonlocal unverified
            while not stop.is_set():
                roll = rng.random()
                try:
                    if roll < 0.45 or not ledger.present:
                        name, marker, body = marker_doc(next(counter), "c")
                        if ledger.upload(srv, name, marker, body):
                            names[document_id(C, name)] = name
                        ops["upload"] += 1
                    elif roll < 0.60:
                        doc_id = rng.choice(sorted(ledger.present))
                        _, marker, body = marker_doc(next(counter), "c")
                        if not ledger.upload(srv, names[doc_id], marker, body):  # same name: a new version
                            with ledger.lock:
                                if ledger.present.pop(doc_id, None) is not None:
                                    unverified += 1
                        ops["update"] += 1
                    elif roll < 0.70:
                        ledger.delete(srv, rng.choice(sorted(ledger.present)))
                        ops["delete"] += 1
                    elif roll < 0.90:
                        srv.call("POST", f"/collections/{C}/query", {"question": "Which marker does record 3 carry?"},
                                 timeout=60)
                        ops["question"] += 1
                    else:
                        n = next(counter)
                        (folder / f"note-{n % 20}.md").write_text(f"# Note {n}\n\nNote {n} of the chaos folder.\n")
                        srv.call("POST", f"/sources/{_source_id(srv)}/sync", timeout=30)
                        ops["sync"] += 1
                except OSError:
                    return  # the server is gone

        thread = threading.Thread(target=load)
        thread.start()
        time.sleep(rng.uniform(3.0, 20.0))
        srv.kill()
        kills += 1
        stop.set()
        thread.join(120)
        srv = Server(data, **FAST).start()
        restarts += 1
        check_invariants(srv, ledger)  # raises (and the run fails) on anything lost
        checks += 1
        print(f"restart {restarts}: {len(ledger.present)} documents checked, {sum(ops.values())} operations",
              flush=True)
    srv.stop()

    report = {"minutes": args.minutes, "seed": args.seed, "operations": dict(ops), "kills": kills,
              "restarts": restarts, "invariant_checks": checks, "documents_checked": len(ledger.present),
              "deleted_checked": len(ledger.deleted), "uncertain_checked": len(ledger.uncertain),
              "updates_cut_off": unverified, "lost": 0}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    lines = [f"# Chaos soak, {args.minutes:g} minutes (seed {args.seed})", "",
             f"- operations: {', '.join(f'{n} {k}' for k, n in sorted(ops.items()))}",
             f"- SIGKILLs: {kills}; restarts: {restarts}; invariant checks passed: {checks}",
             f"- documents checked after the last restart: {len(ledger.present)} present, "
             f"{len(ledger.deleted)} deleted, {len(ledger.uncertain)} uncertain deletes",
             f"- updates cut off by a kill (either version may stand, not checked): {unverified}",
             "- lost: 0"]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


_SOURCE: dict[str, str] = {}


def _source_id(srv: Server) -> str:
    if "id" not in _SOURCE:
        _, body = srv.call("GET", "/sources")
        _SOURCE["id"] = body["sources"][0]["id"]
    return _SOURCE["id"]


if __name__ == "__main__":
    raise SystemExit(main())
