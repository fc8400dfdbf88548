"""API keys (admin only): create (the key is shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from rag.api.deps import RuntimeDep, require_admin
from rag.api.errors import BODY, KEYED, errors

router = APIRouter(tags=["keys"], dependencies=[Depends(require_admin)], responses={**KEYED, **errors(403)})


class KeyIn(BaseModel):
    """A key to create: a label, and scopes that are each `admin`, `read:COLLECTION` or
    `write:COLLECTION` (write includes read)."""

    name: str = Field(..., min_length=1, max_length=100)
    scopes: list[str] = Field(..., examples=[["read:handbook", "write:handbook"]])
    rate_per_minute: int | None = Field(None, ge=1, le=1_000_000,
                                        description="requests per minute before 429; omit for no limit")


class KeyCreated(BaseModel):
    """A created key: its id (to revoke it later) and the secret key, shown only in this response."""

    id: str
    key: str = Field(..., description="shown only now; store it safely")


@router.post("/keys", response_model=KeyCreated, status_code=201, responses={**BODY, **errors(400)})
def create_key(body: KeyIn, runtime: RuntimeDep) -> KeyCreated:
    """Create an API key with the given scopes. The response holds the key itself, which is
    never shown again (only its hash is stored). 400 if no scope is given or one is malformed."""
    key_id, key = runtime.keys.create(body.name, body.scopes, body.rate_per_minute)
    return KeyCreated(id=key_id, key=key)


@router.get("/keys")
def list_keys(runtime: RuntimeDep) -> dict:
    """Keys without their secrets."""
    return {"keys": runtime.keys.list()}


@router.delete("/keys/{key_id}", status_code=204, responses=errors(404))
def revoke_key(key_id: str, runtime: RuntimeDep) -> None:
    """Revoke a key: requests sending it get 401 from now on. 404 if the key does not exist or
    is already revoked."""
    runtime.keys.revoke(key_id)
