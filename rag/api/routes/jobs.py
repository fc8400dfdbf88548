"""Jobs: what every sync and upload batch did."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from rag.api.deps import RuntimeDep, paging, require_admin
from rag.api.errors import KEYED, errors
from rag.api.schemas import JobOut, JobsOut
from rag.store.jobs import State
from rag.store.paging import PageRequest

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_admin)], responses={**KEYED, **errors(403)})


@router.get("/jobs", response_model=JobsOut, responses=errors(400, 422))
def list_jobs(runtime: RuntimeDep,
              page: Annotated[PageRequest, Depends(paging(("created_at", "state"), "created_at", "desc"))],
              state: State | None = None, source_id: str | None = None,
              collection: Annotated[str | None, Query(max_length=64)] = None) -> JobsOut:
    """A page of jobs, newest first by default; filter by state, source or collection."""
    got = runtime.jobs.page(page, state, source_id, collection)
    return JobsOut(jobs=[JobOut.model_validate(j) for j in got.items], next_cursor=got.next_cursor)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(404))
def get_job(job_id: str, runtime: RuntimeDep) -> JobOut:
    """One job: its state, per-file counts, errors and progress. 404 if there is no job with this id."""
    return JobOut.model_validate(runtime.jobs.get(job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut,
             responses=errors(400, 404))
def cancel_job(job_id: str, runtime: RuntimeDep) -> JobOut:
    """Queued jobs stop at once; a running job stops after its current file."""
    return JobOut.model_validate(runtime.jobs.request_cancel(job_id))
