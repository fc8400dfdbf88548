"""Jobs: what every sync, upload and re-embedding did or is doing, as a page, one job, or events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.api.deps import PrincipalDep, RuntimeDep, paging, require_admin
from rag.api.errors import KEYED, errors
from rag.api.schemas import JobFileOut, JobOut, JobsOut
from rag.bootstrap import Runtime
from rag.errors import NotFound
from rag.store.jobs import FILE_JOBS, FINAL, Job, State
from rag.store.keys import Principal
from rag.store.paging import PageRequest

router = APIRouter(tags=["jobs"], responses=KEYED)

# How often the event stream re-reads the job, and sends a comment to keep proxies from
# closing a quiet connection.
_POLL_S = 0.5
_KEEPALIVE_S = 15.0


def _visible(runtime: Runtime, principal: Principal, job_id: str, action: str = "read") -> Job:
    # A key scoped to collections sees the jobs of those collections only; others are 404,
    # as if they did not exist (the same rule as for collections).
    job = runtime.jobs.get(job_id)
    if not principal.can(action, job.collection):
        raise NotFound(f"job {job_id!r} does not exist", "job")
    return job


def job_out(runtime: Runtime, job: Job) -> JobOut:
    """A job with its files' stages (upload and re-embedding jobs)."""
    out = JobOut.model_validate(job)
    if job.kind in FILE_JOBS:
        out.files = [JobFileOut.model_validate(f) for f in runtime.jobs.files(job.id)]
    return out


@router.get("/jobs", response_model=JobsOut, responses=errors(400, 403, 422), dependencies=[Depends(require_admin)])
def list_jobs(runtime: RuntimeDep,
              page: Annotated[PageRequest, Depends(paging(("created_at", "state"), "created_at", "desc"))],
              state: State | None = None, source_id: str | None = None,
              collection: Annotated[str | None, Query(max_length=64)] = None) -> JobsOut:
    """A page of jobs, newest first by default; filter by state, source or collection (admin)."""
    got = runtime.jobs.page(page, state, source_id, collection)
    return JobsOut(jobs=[JobOut.model_validate(j) for j in got.items], next_cursor=got.next_cursor)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(404))
def get_job(job_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> JobOut:
    """One job: its state, counts, errors, progress, rate and time left, and for an upload each
    file's stage. 404 if there is no such job (or it belongs to a collection the key cannot read)."""
    return job_out(runtime, _visible(runtime, principal, job_id))


@router.get("/jobs/{job_id}/events", responses={**errors(404), 200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: str, runtime: RuntimeDep, principal: PrincipalDep, request: Request):
    """The job as Server-Sent Events: a `job` event (the body of GET /jobs/{id}) now and at
    every change, the last one once it has ended, then the stream closes."""
    await run_in_threadpool(_visible, runtime, principal, job_id)
    return StreamingResponse(_events(runtime, job_id, request), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _events(runtime: Runtime, job_id: str, request: Request) -> AsyncIterator[bytes]:
    last, quiet = "", 0.0
    while True:
        job = await run_in_threadpool(runtime.jobs.get, job_id)
        body = (await run_in_threadpool(job_out, runtime, job)).model_dump(mode="json")
        # rate and eta move with the clock alone: a change of anything else is an event.
        key = json.dumps({k: v for k, v in body.items() if k not in ("rate", "eta_s", "heartbeat_at")},
                         sort_keys=True)
        if key != last:
            last, quiet = key, 0.0
            yield f"event: job\ndata: {json.dumps(body)}\n\n".encode()
        elif quiet >= _KEEPALIVE_S:
            quiet = 0.0
            yield b": still running\n\n"
        if job.state in FINAL or await request.is_disconnected():
            return
        await asyncio.sleep(_POLL_S)
        quiet += _POLL_S


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=errors(400, 404))
def cancel_job(job_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> JobOut:
    """Queued jobs stop at once; a running job stops after the files in hand are committed
    (each whole: nothing is left half-written), and its other files end `cancelled`."""
    _visible(runtime, principal, job_id, "write")
    return job_out(runtime, runtime.jobs.request_cancel(job_id))
