"""API keys (admin only): create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from rag.api.deps import RuntimeDep, paging, require_admin
from rag.api.errors import BODY, KEYED, errors
from rag.api.schemas import KeyCreated, KeyIn, KeyOut, KeysOut
from rag.store.paging import PageRequest

router = APIRouter(tags=["keys"], dependencies=[Depends(require_admin)], responses={**KEYED, **errors(403)})


@router.post("/keys", response_model=KeyCreated, status_code=201, responses={**BODY, **errors(400)})
def create_key(body: KeyIn, runtime: RuntimeDep) -> KeyCreated:
    """Create an API key with the given scopes. The response holds the key itself, which is
    never shown again (only its hash is stored). 400 if no scope is given or one is malformed."""
    key_id, key = runtime.keys.create(body.name, body.scopes, body.rate_per_minute)
    return KeyCreated(id=key_id, key=key)


@router.get("/keys", response_model=KeysOut, responses=errors(400, 422))
def list_keys(runtime: RuntimeDep, page: Annotated[PageRequest, Depends(paging(("created_at", "name"), "created_at"))],
              status: Literal["active", "revoked"] | None = None,
              name_prefix: Annotated[str | None, Query(max_length=100)] = None) -> KeysOut:
    """A page of keys without their secrets (oldest first by default), optionally only active or
    revoked ones, or those whose name starts with `name_prefix`."""
    got = runtime.keys.page(page, status, name_prefix)
    return KeysOut(keys=[KeyOut.model_validate(k) for k in got.items], next_cursor=got.next_cursor)


@router.delete("/keys/{key_id}", status_code=204, responses=errors(404))
def revoke_key(key_id: str, runtime: RuntimeDep) -> None:
    """Revoke a key: requests sending it get 401 from now on. 404 if the key does not exist or
    is already revoked."""
    runtime.keys.revoke(key_id)
