"""The fast lane (schema/fast_lane.py) answers a repeat of a compiled query as the full pipeline would, byte for
byte, and hands everything else to that pipeline without charging an operation twice or running its statement
twice.

Each test sends a document once (the pipeline answers it from the compiled path and vets it), then sends repeats
and variations, and sets what they get against a gateway without the lane over the same database. The
differential test (test_compiled_reads.py) sends each of its generated documents twice, so the lane's answers are
held to the interpreter's there too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from auth.principal import Principal, Role
from db.engine import Database
from gateway.ratelimit import memory as ratelimit_memory
from gateway.seed.demo import DEMO_OWNER_TENANT_EXTERNAL_ID, DEMO_PARTNER_MPN_ID, load_demo
from resolvers.compiled.runner import CompiledReads
from schema.extensions.persisted_manifest import document_hash
from schema.fast_lane import FastLane
from tests import databases
from tests.api import Api, api_for, error_codes, principal, token_for
from tests.resilience_support import world_ids


class _StoppedMemoryRateLimiter(ratelimit_memory.MemoryRateLimiter):
    """The in-process rate limiter with its clock stopped: no bucket refills between a test's requests."""

    def __init__(self, bucket: Any, **options: Any) -> None:
        super().__init__(bucket, clock=lambda: 0.0, **options)


NODE = """query Node($id: ID!) {
  node(id: $id) { id ... on Subscription { displayName status version digitalPartnerOfRecord { partner { name } } } }
}"""
PAGE = "query Page($first: Int) { attributedSubscriptions(first: $first) { totalCount edges { node { id } } } }"
OWNER = principal(Role.OWNER, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID)
PARTNER = principal(Role.PARTNER, partner=DEMO_PARTNER_MPN_ID)
# A budget that does not refill while a test runs, so what each request was charged shows exactly.
BUDGET: dict[str, Any] = {"rate_limit_points": 100_000, "rate_limit_window_seconds": 10**12}
# The owner of a tenant that does not exist: it reaches no row.
STRANGER = principal(Role.OWNER, tenant=uuid.UUID(int=7))


async def _post(api: Api, query: str, variables: dict[str, Any], caller: Principal) -> httpx.Response:
    return await api.client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token_for(api.settings, caller)}"},
    )


def _cost(response: httpx.Response) -> dict[str, Any]:
    cost: dict[str, Any] = response.json()["extensions"]["cost"]
    return cost


@dataclasses.dataclass
class Lane:
    """What the lane answered, request by request: "served", "handover" or "pipeline" (not looked at)."""

    outcomes: list[str]

    @classmethod
    def watch(cls, monkeypatch: pytest.MonkeyPatch) -> Lane:
        lane = cls([])
        serve = FastLane.serve

        async def watched(self: FastLane, *args: Any) -> Any:
            outcome = await serve(self, *args)
            kind = "served" if isinstance(outcome, dict) else "handover" if outcome is not None else "pipeline"
            lane.outcomes.append(kind)
            return outcome

        monkeypatch.setattr(FastLane, "serve", watched)
        return lane


class TestFastLane:
    # Collected only when a PostgreSQL server is configured: on SQLite nothing compiles, so nothing is vetted.
    __test__ = "postgresql" in databases.backends()
    pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    @pytest.fixture
    async def subscriptions(self, database: Database) -> list[str]:
        await load_demo(database)
        return (await world_ids(database)).by_type["Subscription"]

    @pytest.fixture
    async def twins(self, database: Database) -> AsyncIterator[tuple[Api, Api]]:
        async with api_for(database, **BUDGET) as lane, api_for(database, **BUDGET, fast_lane=False) as pipeline:
            yield lane, pipeline

    async def test_a_repeat_gets_the_pipelines_bytes_and_headers(
        self, twins: tuple[Api, Api], subscriptions: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        lane, pipeline = twins
        watched = Lane.watch(monkeypatch)
        for subscription in subscriptions[:3] * 2:
            ours = await _post(lane, NODE, {"id": subscription}, OWNER)
            reference = await _post(pipeline, NODE, {"id": subscription}, OWNER)
            assert (ours.status_code, ours.content) == (reference.status_code, reference.content)
            assert ours.headers.keys() == reference.headers.keys()
            assert ours.headers["content-type"] == reference.headers["content-type"] == "application/json"
        # The first request vets the document; every later one, whatever its variables, is the lane's.
        assert watched.outcomes == ["pipeline"] + ["served"] * 5

    async def test_every_request_is_charged_its_cost_once(
        self, database: Database, subscriptions: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A budget of 3 points for a document of cost 1: the pipeline charges the first request, the lane two
        # more, and the fourth is refused exactly as the pipeline refuses it (429, Retry-After, the same body).
        # The buckets' clock is stopped: Retry-After counts down as the bucket refills, so on a loaded machine the
        # two runs' refusals were seconds apart (1197 against 1200) though charged the same.
        monkeypatch.setattr(ratelimit_memory, "MemoryRateLimiter", _StoppedMemoryRateLimiter)
        async with api_for(database, rate_limit_points=3, max_cost=3) as lane:
            answers = [await _post(lane, NODE, {"id": subscriptions[0]}, OWNER) for _ in range(4)]
        async with api_for(database, rate_limit_points=3, max_cost=3, fast_lane=False) as pipeline:
            references = [await _post(pipeline, NODE, {"id": subscriptions[0]}, OWNER) for _ in range(4)]
        assert [_cost(answer)["throttle"]["remaining"] for answer in answers[:3]] == [2, 1, 0]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert [(a.content, a.headers.get("retry-after")) for a in answers] == [
            (r.content, r.headers.get("retry-after")) for r in references
        ]

    async def test_a_compiled_answer_that_needs_the_interpreter_is_not_charged_or_run_twice(
        self, twins: tuple[Api, Api], subscriptions: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        lane, _ = twins
        first = await _post(lane, NODE, {"id": subscriptions[0]}, OWNER)
        ran: list[str] = []

        async def declined(self: CompiledReads, *args: Any) -> str | None:
            ran.append("statement")
            return None  # as for an answer holding MISSING: only the interpreter may word it

        monkeypatch.setattr(CompiledReads, "answer", declined)
        watched = Lane.watch(monkeypatch)
        again = await _post(lane, NODE, {"id": subscriptions[0]}, OWNER)
        assert watched.outcomes == ["handover"] and ran == ["statement"]
        assert again.json()["data"] == first.json()["data"]
        charged_once = _cost(first)["throttle"]["remaining"] - _cost(first)["requested"]
        assert _cost(again)["throttle"]["remaining"] == charged_once

    async def test_a_statement_past_the_deadline_answers_timeout_once(
        self, database: Database, subscriptions: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def stuck(self: CompiledReads, *args: Any) -> str | None:
            await asyncio.sleep(30)
            return None

        bodies = []
        for fast_lane in (True, False):
            async with api_for(database, **BUDGET, request_timeout_seconds=0.5, fast_lane=fast_lane) as api:
                with monkeypatch.context() as patched:
                    vetted = await _post(api, NODE, {"id": subscriptions[0]}, OWNER)
                    patched.setattr(CompiledReads, "answer", stuck)
                    started = time.perf_counter()
                    timed_out = await _post(api, NODE, {"id": subscriptions[0]}, OWNER)
                    # One wait for the deadline, not one in the lane and another in the pipeline.
                    assert time.perf_counter() - started < 0.5 * 1.9
            assert error_codes(timed_out.json()) == ["TIMEOUT"]
            remaining = _cost(vetted)["throttle"]["remaining"] - _cost(vetted)["requested"]
            assert _cost(timed_out)["throttle"]["remaining"] == remaining
            bodies.append(timed_out.json())
        assert bodies[0] == bodies[1]

    async def test_what_the_request_carries_is_checked_again(
        self, twins: tuple[Api, Api], subscriptions: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Variables that the cost check, the NUL check or coercion refuse get the pipeline's answer, though the
        text was vetted; so does another caller, who may not reach the row."""
        lane, pipeline = twins
        for api in twins:
            assert (await _post(api, NODE, {"id": subscriptions[0]}, OWNER)).status_code == 200
            assert (await _post(api, PAGE, {"first": 2}, PARTNER)).status_code == 200
        watched = Lane.watch(monkeypatch)
        variations: list[tuple[str, dict[str, Any], Principal]] = [
            (NODE, {"id": "\u0000"}, OWNER),
            (NODE, {}, OWNER),
            (NODE, {"id": ["not", "an", "id"]}, OWNER),
            (NODE, {"id": subscriptions[0]}, STRANGER),
            (PAGE, {"first": 0}, PARTNER),
            (PAGE, {"first": 10_000}, PARTNER),
            (PAGE, {"first": 3}, PARTNER),
        ]
        for query, variables, caller in variations:
            ours = await _post(lane, query, variables, caller)
            reference = await _post(pipeline, query, variables, caller)
            assert (ours.status_code, orjson.loads(ours.content)) == (
                reference.status_code,
                orjson.loads(reference.content),
            ), (query, variables)
        assert watched.outcomes[:3] == ["pipeline"] * 3
        assert watched.outcomes[-1] == "served"

    async def test_the_access_log_line_reads_the_same(
        self, twins: tuple[Api, Api], subscriptions: list[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        lane, pipeline = twins
        await _post(lane, NODE, {"id": subscriptions[0]}, OWNER)  # vets it (and learns the caller's ids)
        caplog.clear()
        with caplog.at_level("INFO", logger="dpor.access"):
            await _post(lane, NODE, {"id": subscriptions[0]}, OWNER)
            await _post(pipeline, NODE, {"id": subscriptions[0]}, OWNER)
        varying = {"request_id", "duration_ms", "created", "msecs", "relativeCreated", "args", "msg", "message"}
        lines = [
            {k: v for k, v in record.__dict__.items() if k not in varying and not k.startswith("_")}
            for record in caplog.records
        ]
        assert len(lines) == 2 and lines[0] == lines[1]
        assert lines[0]["execution"] == "compiled" and lines[0]["operation"] == "Node"
        assert lines[0]["sql_statements"] == 1 and lines[0]["outcome"] == "ok"

    async def test_a_client_held_to_its_own_manifest_is_held_to_it_after_another_ran_the_text(
        self, database: Database, subscriptions: list[str], tmp_path: Path
    ) -> None:
        everyone, mobile = tmp_path / "everyone.json", tmp_path / "mobile.json"
        everyone.write_text(json.dumps({f"sha256:{document_hash(NODE)}": NODE}))
        mobile.write_text(json.dumps({f"sha256:{document_hash(PAGE)}": PAGE}))
        settings = {
            "persisted_documents_path": everyone,
            "persisted_documents_mode": "only",
            "persisted_documents_per_client": (("mobile", mobile),),
        }
        on_mobile = dataclasses.replace(OWNER, client_id="mobile")
        async with api_for(database, **settings) as lane:
            for _ in range(2):
                assert "errors" not in (await _post(lane, NODE, {"id": subscriptions[0]}, OWNER)).json()
            refused = await _post(lane, NODE, {"id": subscriptions[0]}, on_mobile)
        assert error_codes(refused.json()) == ["OPERATION_NOT_TRUSTED"]
