"""Sources and jobs over HTTP; answers follow a synced folder as it changes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fastapi.testclient import TestClient

from rag.bootstrap import Runtime
from tests import docs
from tests.conftest import wait_job

QUESTION = "Who is the harbour master of Vindholm?"


def _doc(name: str) -> bytes:
    return docs.markdown("Vindholm harbour", {
        "Harbour master": f"The harbour master of Vindholm is {name}.",
        "Moorings": "Moorings at Vindholm cost 14 euros a night.",
    })


def test_answers_follow_the_folder(client: TestClient, runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "harbour.md").write_bytes(_doc("Sigrun Aasheim"))
    r = client.post("/sources", json={"kind": "folder", "path": str(tmp_path), "collection": "fresh",
                                      "schedule": "*/15 * * * *", "delete_missing": True})
    assert r.status_code == 201, r.text
    source_id = r.json()["id"]
    first = client.get("/jobs", params={"source_id": source_id}).json()["jobs"][0]
    assert wait_job(runtime, first["id"]).state == "succeeded"

    body = client.post("/collections/fresh/query", json={"question": QUESTION}).json()
    assert "Aasheim" in body["answer"], body
    assert body["sources"][0]["version"] == 1

    (tmp_path / "harbour.md").write_bytes(_doc("Torvald Brekke"))
    stamp = time.time() + 5
    os.utime(tmp_path / "harbour.md", (stamp, stamp))
    r = client.post(f"/sources/{source_id}/sync")
    assert r.status_code == 202
    job = wait_job(runtime, r.json()["id"])
    assert job.counts["updated"] == 1
    shown = client.get(f"/jobs/{job.id}").json()
    assert shown["state"] == "succeeded" and shown["progress"] == {"done": 1, "total": 1}

    body = client.post("/collections/fresh/query", json={"question": QUESTION}).json()
    assert "Brekke" in body["answer"] and "Aasheim" not in body["answer"], body
    assert body["citations"] and body["sources"][0]["version"] == 2

    (tmp_path / "harbour.md").unlink()
    job = wait_job(runtime, client.post(f"/sources/{source_id}/sync").json()["id"])
    assert job.counts["deleted"] == 1
    hits = client.post("/collections/fresh/search", json={"query": QUESTION, "top_k": 10}).json()["results"]
    assert hits == []
    body = client.post("/collections/fresh/query", json={"question": QUESTION}).json()
    assert "Brekke" not in body["answer"] and body["citations"] == []


def test_source_crud_and_errors(client: TestClient, tmp_path: Path) -> None:
    assert client.post("/sources", json={"path": str(tmp_path / "missing"), "collection": "x"}).status_code == 400
    bad = client.post("/sources", json={"path": str(tmp_path), "collection": "x", "schedule": "every minute"})
    assert bad.status_code == 400 and "cron" in bad.json()["error"]["message"]
    created = client.post("/sources", json={"path": str(tmp_path), "collection": "crud"}).json()
    sid = created["id"]
    assert created["schedule"] is None and created["delete_missing"] is True
    patched = client.patch(f"/sources/{sid}", json={"schedule": "0 * * * *", "exclude": ["*.tmp"]}).json()
    assert patched["schedule"] == "0 * * * *" and patched["exclude"] == ["*.tmp"]
    assert any(s["id"] == sid for s in client.get("/sources").json()["sources"])
    assert client.delete(f"/sources/{sid}").status_code == 204
    assert client.get(f"/sources/{sid}").status_code == 404
    assert client.post(f"/sources/{sid}/sync").status_code == 404
    assert client.get("/jobs/job_nope").status_code == 404
    assert client.get("/jobs", params={"state": "weird"}).status_code == 422  # the enum is in the schema


def test_uploads_are_jobs(client: TestClient) -> None:
    r = client.post("/collections/upjobs/documents?wait=true", files=[
        ("files", ("a.md", docs.markdown("A", {"B": "Plain text about kelp."}))),
        ("files", ("b.pdf", b"%PDF-1.4\n%%EOF broken")),
    ])
    job = client.get(f"/jobs/{r.json()['job_id']}").json()
    assert job["kind"] == "upload" and job["state"] == "succeeded"
    assert job["counts"]["added"] == 1 and job["counts"]["failed"] == 1
    assert job["errors"][0]["file"] == "b.pdf"


def test_a_folder_source_attaches_metadata_and_re_tags_on_change(client: TestClient, runtime: Runtime,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "a.md").write_bytes(_doc("Ylva Strand"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_bytes(docs.markdown("Berths", {"Berths": "Berth 9 is kept for the lifeboat."}))
    r = client.post("/sources", json={"path": str(tmp_path), "collection": "tagged",
                                      "metadata": {"dept": "harbour", "public": True}})
    assert r.status_code == 201, r.text
    source_id = r.json()["id"]
    assert r.json()["metadata"] == {"dept": "harbour", "public": True}
    first = client.get("/jobs", params={"source_id": source_id}).json()["jobs"][0]
    assert wait_job(runtime, first["id"]).state == "succeeded"
    listed = {d["name"]: d["metadata"] for d in client.get("/collections/tagged/documents").json()["documents"]}
    assert listed["sub/b.md"] == {"dept": "harbour", "public": True, "path": "sub/b.md"}
    r = client.patch(f"/sources/{source_id}", json={"metadata": {"dept": "coastguard"}})
    assert r.status_code == 200 and r.json()["metadata"] == {"dept": "coastguard"}
    listed = {d["name"]: d for d in client.get("/collections/tagged/documents").json()["documents"]}
    assert listed["a.md"]["metadata"] == {"dept": "coastguard", "path": "a.md"} and listed["a.md"]["version"] == 1
    hits = client.post("/collections/tagged/search", json={
        "query": "Which berth is kept for the lifeboat?", "filters": {"metadata": {"dept": "coastguard"}}}).json()
    assert "Berth 9" in hits["results"][0]["text"]
    bad = client.post("/sources", json={"path": str(tmp_path), "collection": "tagged", "metadata": {"x": [1]}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_metadata"
