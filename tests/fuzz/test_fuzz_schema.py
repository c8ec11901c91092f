"""Generation from the OpenAPI document: valid requests the app accepts, invalid ones it rejects."""

from __future__ import annotations

import datetime
import json
import uuid
from enum import Enum
from random import Random
from typing import Annotated, Literal

import pytest
from fastapi import FastAPI
from fastapi import Path as PathParam
from pydantic import BaseModel, EmailStr, Field, HttpUrl, Json, TypeAdapter

from cwtest.fuzz import InProcessTarget, Strategies, routes_of
from cwtest.fuzz.search import draw
from cwtest.fuzz.formats import NON_ASCII
from cwtest.openapi import Resolver, Unsupported
from cwtest.simulator import SimulatedRuntime


class Plan(str, Enum):
    FREE = "free"
    PRO = "pro"
    TEAM = "team"


class Address(BaseModel):
    zip_code: str = Field(pattern=r"^\d{5}(-\d{4})?$")
    city: str | None = None


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=0, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Node(BaseModel):
    name: str = Field(max_length=8)
    children: list[Node] = Field(default_factory=list, max_length=2)


class Everything(BaseModel):
    name: str = Field(min_length=1, max_length=12)
    email: EmailStr
    site: HttpUrl
    plan: Plan
    mode: Literal["fast", "slow"]
    version: Literal[2]
    count: int = Field(ge=1, le=5)
    ratio: float = Field(gt=0, lt=1)
    step: int = Field(default=10, multiple_of=5, ge=0, le=100)
    day: datetime.date
    at: datetime.datetime
    ident: uuid.UUID
    address: Address
    tags: list[str] = Field(default_factory=list, max_length=3)
    unique: set[int] = set()
    scores: dict[str, int] = {}
    maybe: int | None = None
    pair: tuple[int, str] | None = None
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    tree: Node | None = None
    payload: Json[list[int]] | None = None
    nickname: str | None = Field(default=None, pattern=r"^[a-z]+$")


def build_app() -> FastAPI:
    app = FastAPI()

    @app.post("/items/{item_id}")
    async def create(item: Everything, item_id: Annotated[int, PathParam(ge=1, le=1000)],
                     dry_run: bool = False, limit: int = 10) -> dict:
        return {"ok": True}

    return app


@pytest.fixture(scope="module")
def setup():
    with InProcessTarget(build_app(), SimulatedRuntime(), lifespan=False) as target:
        document = target.schema
        [route] = routes_of(document)
        yield target, document, route, Strategies(document)


def bodies(strategy, count: int, seed: int = 0) -> list:
    rng = Random(seed)
    out = []
    while len(out) < count:
        drawn = draw(strategy, rng)
        if drawn is not None:
            out.append(drawn[0])
    return out


def test_valid_requests_are_accepted_by_pydantic_and_by_the_app(setup) -> None:
    target, _document, route, strategies = setup
    requests = bodies(strategies.request(route), 300)
    adapter = TypeAdapter(Everything)
    rejected = []
    for request in requests:
        try:
            adapter.validate_json(json.dumps(request.json_body))
        except Exception as exc:  # noqa: BLE001
            rejected.append((request.json_body, str(exc)[:300]))
    assert len(rejected) <= 3, rejected[:3]  # EmailStr's and HttpUrl's odd corners, at most 1%
    statuses = [target.send(r.method, r.path, r.json_body, query=dict(r.query)).status for r in requests[:60]]
    assert statuses.count(200) >= 59, statuses


def test_boundaries_come_up_often(setup) -> None:
    _target, _document, route, strategies = setup
    requests = bodies(strategies.request(route), 200, seed=1)
    items = [r.json_body for r in requests]
    counts = [i["count"] for i in items]
    assert counts.count(1) >= 10 and counts.count(5) >= 10
    names = [i["name"] for i in items]
    assert any(len(n) == 12 for n in names) and any(len(n) == 1 for n in names)
    assert sum(not n.isascii() for n in names) >= 40
    assert any(n in (s[:12] for s in NON_ASCII) for n in names)  # the hand-picked non-ASCII samples
    assert {i["plan"] for i in items} == {"free", "pro", "team"} and {i["mode"] for i in items} == {"fast", "slow"}
    assert {i["version"] for i in items} == {2}
    assert any("tags" not in i for i in items) and any(len(i.get("tags", [])) == 3 for i in items)
    assert any(i.get("maybe", 0) is None for i in items)
    assert all(i["step"] % 5 == 0 for i in items if "step" in i)
    assert any(isinstance(i.get("tree"), dict) and i["tree"].get("children") for i in items)
    item_ids = [int(r.path.rsplit("/", 1)[1]) for r in requests]
    assert min(item_ids) == 1 and max(item_ids) == 1000
    assert any(("dry_run", True) in r.query for r in requests)


def test_invalid_requests_are_rejected_with_4xx_and_say_what_is_wrong(setup) -> None:
    target, _document, route, strategies = setup
    defects = strategies.invalid_requests(route)
    labels = [label for label, _strategy in defects]
    for expected in ("body.email (required) is missing", "body.count is above its maximum (5)",
                     "body.count is below its minimum (1)", "body.plan is not one of ['free', 'pro', 'team']",
                     "body.name is longer than 12 characters", "body.name is shorter than 1 characters",
                     "body.address is an array", "body.count is a non-numeric string", "body is an array",
                     "body.ratio is above its maximum (1.0)", "body.tags has more than 3 items",
                     "body.email is not a valid email", "body.address.zip_code (required) is missing",
                     "item_id is below its minimum (1)", "dry_run is an object", "the required body is missing"):
        assert expected in labels, (expected, labels)
    assert any(label.startswith("body.address.zip_code does not match") for label in labels)
    # an object is not "a wrong type" for an object: only a missing key makes it invalid
    assert "body is an object" not in labels and "body.address is an object" not in labels
    assert "body.maybe is null" not in labels  # Optional: null is valid
    rng = Random(3)
    statuses: dict[int | None, list[str]] = {}
    for label, strategy in defects:
        drawn = None
        while drawn is None:
            drawn = draw(strategy, rng)
        request = drawn[0]
        assert request.defect == label
        outcome = target.send(request.method, request.path, request.json_body, query=dict(request.query))
        statuses.setdefault(outcome.status, []).append(label)
    assert set(statuses) <= {400, 422}, {k: v for k, v in statuses.items() if k not in (400, 422)}


def test_resolver_merges_keywords_beside_a_reference() -> None:
    document = {"components": {"schemas": {"A": {"type": "string", "maxLength": 3}}}}
    assert Resolver(document).resolve({"$ref": "#/components/schemas/A", "description": "d"}) == \
        {"type": "string", "maxLength": 3, "description": "d"}


def test_a_route_with_a_form_body_gets_a_smoke_call_but_no_search() -> None:
    document = {"openapi": "3.1.0", "paths": {"/upload": {"post": {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object"}}}}, "responses": {}}}}}
    [route] = routes_of(document)
    assert route.unsupported is None and route.body_media == "multipart"
    with pytest.raises(Unsupported, match="a multipart body"):
        Strategies(document).request(route)
    csv = {"openapi": "3.1.0", "paths": {"/csv": {"post": {"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}}}}, "responses": {}}}}}
    [route] = routes_of(csv)
    assert route.unsupported == "a request body of type text/csv (only JSON and form bodies)"
