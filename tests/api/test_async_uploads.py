"""Uploads that return at once (202), jobs people can follow (GET and Server-Sent Events),
and cancellation over HTTP, on the session's real runtime (its in-process runner)."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from ingest.scheduler import JobRunner
from tests import docs

C = "async-up"


@pytest.fixture(scope="module", autouse=True)
def runner(job_runner: JobRunner) -> JobRunner:
    """Queued uploads run in the background, as under `rag serve`."""
    return job_runner


def _events(client: TestClient, job_id: str, timeout: float = 300) -> list[dict]:
    events = []
    started = time.monotonic()
    with client.stream("GET", f"/jobs/{job_id}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
            assert time.monotonic() - started < timeout, f"job {job_id} still running: {events[-1:]}"
    return events


def test_an_upload_is_answered_202_and_followed_to_the_end(client: TestClient) -> None:
    files = [("files", (f"gate-{i}.md", docs.markdown(f"Gate {i}", {"Code": f"Gate {i} opens with code {4410 + i}."})))
             for i in range(3)]
    r = client.post(f"/collections/{C}/documents", files=files)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["state"] == "queued" and [f["stage"] for f in body["files"]] == ["queued"] * 3
    assert body["status_url"] == f"/jobs/{body['job_id']}" and body["events_url"].endswith("/events")
    events = _events(client, body["job_id"])
    assert events and events[-1]["state"] == "succeeded", events[-1]
    last = events[-1]
    assert [f["stage"] for f in last["files"]] == ["indexed"] * 3 and last["counts"]["added"] == 3
    assert last["progress"] == {"done": 3, "total": 3} and last["rate"] > 0
    # Every event is a new state of the job (no repeats), in order of progress.
    dones = [e["progress"]["done"] for e in events]
    assert dones == sorted(dones)
    found = client.post(f"/collections/{C}/search", json={"query": "which code opens gate 2"}).json()
    assert any("4412" in hit["text"] for hit in found["results"])


def test_wait_true_keeps_the_outcomes_in_the_answer(client: TestClient) -> None:
    r = client.post(f"/collections/{C}/documents?wait=true",
                    files=[("files", ("hall.md", docs.markdown("Hall", {"Seats": "The hall seats 140."})))])
    assert r.status_code == 200 and r.json()["files"][0]["status"] == "added"
    job = client.get(f"/jobs/{r.json()['job_id']}").json()
    assert job["state"] == "succeeded" and job["files"][0]["stage"] == "indexed"


def test_a_bad_file_is_refused_before_anything_is_queued(client: TestClient) -> None:
    before = client.get("/jobs", params={"collection": C, "limit": 1000}).json()["jobs"]
    r = client.post(f"/collections/{C}/documents", files=[("files", ("x.exe", b"MZ\x90\x00" + bytes(range(200))))])
    assert r.status_code == 415
    assert client.get("/jobs", params={"collection": C, "limit": 1000}).json()["jobs"] == before


def test_a_parse_failure_shows_in_the_files_stage(client: TestClient) -> None:
    r = client.post(f"/collections/{C}/documents", files=[("files", ("bad.pdf", b"%PDF-1.4 not really"))])
    assert r.status_code == 202
    last = _events(client, r.json()["job_id"])[-1]
    assert last["state"] == "failed" and last["files"][0]["stage"] == "failed" and last["files"][0]["reason"]


def test_cancel_of_a_finished_job_is_refused_and_unknown_jobs_are_404(client: TestClient) -> None:
    r = client.post(f"/collections/{C}/documents?wait=true",
                    files=[("files", ("lamp.md", docs.markdown("Lamp", {"Colour": "The lamp is teal."})))])
    job_id = r.json()["job_id"]
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 400
    assert client.get("/jobs/job_doesnotexist/events").status_code == 404
    assert client.get("/jobs/job_doesnotexist").status_code == 404


def test_the_events_of_a_long_job_show_its_stages(client: TestClient) -> None:
    # Twelve files: the stream shows the job running with files between queued and indexed.
    files = [("files", (f"shelf-{i}.md", docs.markdown(f"Shelf {i}", {"Load": f"Shelf {i} carries {20 + i} kg. " * 40})))
             for i in range(12)]
    r = client.post(f"/collections/{C}/documents", files=files)
    events = _events(client, r.json()["job_id"])
    assert events[-1]["state"] == "succeeded"
    seen = {f["stage"] for e in events for f in e["files"]}
    assert "indexed" in seen and len(events) >= 2
    assert any(e["state"] == "running" for e in events)
