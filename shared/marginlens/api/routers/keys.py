"""API keys (scope admin): create (plaintext shown once), list, revoke; and GET /v1/whoami, for any
key to learn its own scope (what the dashboard shows or hides)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from marginlens.api.app import current_principal, json_response
from marginlens.api.problems import Problem
from marginlens.api.schemas.keys import KeyCreated, KeyCreateIn, KeyList, KeyOut, WhoAmI
from marginlens.core.observability import logger
from marginlens.usecases.services import services

router = Router()


@router.post(
    "/v1/keys",
    summary="Create an API key; the key is in this response only",
    tags=["keys"],
    responses={201: {"description": "Created", "content": {"application/json": {"model": KeyCreated}}}},
)
def create_key(request: Annotated[KeyCreateIn, Body()]):
    key, record = services().keys.create(request.scope, request.name)
    logger.info("api key created", key_id=record.id, scope=record.scope, prefix=record.prefix)
    return json_response(201, {**record.public(), "key": key})


@router.get("/v1/keys", summary="List API keys (never the keys themselves)", tags=["keys"])
def list_keys() -> KeyList:
    return KeyList(data=[KeyOut.model_validate(record.public()) for record in services().keys.list()])


@router.delete(
    "/v1/keys/<key_id>", summary="Revoke an API key (refused everywhere within 60 s)", tags=["keys"]
)
def revoke_key(key_id: Annotated[str, Path(max_length=64)]) -> KeyOut:
    record = services().keys.revoke(key_id)
    if record is None:
        raise Problem(404, f"No API key {key_id!r}.")
    logger.info("api key revoked", key_id=record.id)
    return KeyOut.model_validate(record.public())


@router.get("/v1/whoami", summary="The presenting key: its id, name and scope", tags=["keys"])
def whoami() -> WhoAmI:
    principal = current_principal(router)
    if principal is None:  # the route table gives this route a scope: the gate checked a key
        raise Problem(401, "A valid API key is required.", slug="unauthorized")
    record = services().keys.find(principal.key_id)
    if record is None:
        return WhoAmI(id=principal.key_id, name="bootstrap admin key", scope=principal.scope, prefix=None)
    return WhoAmI(id=record.id, name=record.name, scope=principal.scope, prefix=record.prefix)
