"""Trusted documents: listed operations run by hash, parsed once and validated once; "only" runs nothing
else."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from db import statement_counter
from db.engine import Database
from gateway.settings import Settings
from gateway.wiring import extension_config
from schema import extensions
from schema.extensions import caching
from schema.extensions.persisted_manifest import Manifest, ManifestError
from tests.hardening_support import Mutation, Query, as_caller, client_for, codes, settings_for, sqlite_database

HELLO = "query Hello { hello }"
ITEMS = "query Items($n: Int!) { items(first: $n) { totalCount } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def by_hash(text: str, **extra: Any) -> dict[str, Any]:
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}, **extra}


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = sqlite_database(tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def manifest_path(tmp_path: Path) -> Path:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha256(HELLO): HELLO, sha256(ITEMS): ITEMS}))
    return path


class Documents(SchemaExtension):
    """Records the document object each operation executes."""

    seen: ClassVar[list[Any]] = []

    def on_execute(self) -> Iterator[None]:
        Documents.seen.append(self.execution_context.graphql_document)
        yield


def recording_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query, mutation=Mutation, extensions=[*extensions.for_config(extension_config(settings)), Documents]
    )


async def test_a_listed_document_runs_by_hash_parsed_and_validated_once(
    database: Database, manifest_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    validations: list[object] = []
    real_validator = caching._validator

    def counting_validator(maxsize: int) -> caching.ValidateFunction:
        validate = real_validator(maxsize)

        def counted(*args: Any) -> Any:
            validations.append(args[1])
            return validate(*args)

        return counted

    monkeypatch.setattr(caching, "_validator", counting_validator)
    settings = settings_for(persisted_documents_path=manifest_path)
    Documents.seen.clear()
    async with client_for(settings, database, schema=recording_schema(settings)) as client:
        first = await client.post("/graphql", json=by_hash(ITEMS, variables={"n": 3}))
        second = await client.post("/graphql", json=by_hash(ITEMS, variables={"n": 5}))
        # GET works too (clients send hashed queries over GET so that CDNs can cache them).
        third = await client.get("/graphql", params={"extensions": json.dumps(by_hash(HELLO)["extensions"])})
    assert first.json()["data"] == {"items": {"totalCount": 3}}
    assert second.json()["data"] == {"items": {"totalCount": 5}}
    assert third.json()["data"] == {"hello": "world"}
    # The executed document is the manifest's, parsed at start-up: not parsed per request...
    assert Documents.seen[0] is Documents.seen[1]
    # ... and validated the first time only.
    assert len([document for document in validations if document is Documents.seen[0]]) == 1


async def test_unknown_and_mismatched_hashes_are_refused(database: Database, manifest_path: Path) -> None:
    async with client_for(settings_for(persisted_documents_path=manifest_path), database) as client:
        with statement_counter.counting() as count:
            unknown = await client.post("/graphql", json=by_hash("{ secretField }"))
            mismatch = await client.post("/graphql", json=by_hash(HELLO, query="{ secretField }"))
            malformed = await client.post(
                "/graphql",
                json={"extensions": {"persistedQuery": {"version": 2, "sha256Hash": sha256(HELLO)}}},
            )
        assert codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
        assert codes(mismatch.json()) == ["BAD_REQUEST"]
        assert codes(malformed.json()) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
        assert count.statements == 0
        # "allow" mode: documents outside the manifest still run.
        assert (await client.post("/graphql", json={"query": "{ hello }"})).json()["data"] == {"hello": "world"}


async def test_without_a_manifest_hashes_are_not_supported(database: Database) -> None:
    async with client_for(settings_for(), database) as client:
        response = await client.post("/graphql", json=by_hash(HELLO))
        assert codes(response.json()) == ["PERSISTED_QUERY_NOT_SUPPORTED"]


async def test_only_mode_runs_listed_documents_only(database: Database, manifest_path: Path) -> None:
    settings = settings_for(persisted_documents_path=manifest_path, persisted_documents_mode="only")
    async with client_for(settings, database) as client:
        with statement_counter.counting() as count:
            refused = await client.post("/graphql", json={"query": "{ hello }"})
        assert codes(refused.json()) == ["OPERATION_NOT_TRUSTED"]
        assert count.statements == 0
        # The listed text, sent in full, is recognised by its hash.
        assert (await client.post("/graphql", json={"query": HELLO})).json()["data"] == {"hello": "world"}
        assert (await client.post("/graphql", json=by_hash(HELLO))).json()["data"] == {"hello": "world"}


async def test_a_client_with_its_own_manifest_is_held_to_it(
    database: Database, manifest_path: Path, tmp_path: Path
) -> None:
    mobile = tmp_path / "mobile.json"
    mobile.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": sha256(HELLO), "name": "Hello", "type": "query", "body": HELLO}],
            }
        )
    )
    settings = settings_for(
        persisted_documents_path=manifest_path, persisted_documents_per_client=(("mobile", mobile),)
    )
    async with client_for(settings, database) as client:
        mobile_headers = as_caller("dana", "mobile")
        assert (await client.post("/graphql", json=by_hash(HELLO), headers=mobile_headers)).json()["data"]
        listed_elsewhere = await client.post(
            "/graphql", json=by_hash(ITEMS, variables={"n": 1}), headers=mobile_headers
        )
        assert codes(listed_elsewhere.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
        free_form = await client.post("/graphql", json={"query": "{ hello }"}, headers=mobile_headers)
        assert codes(free_form.json()) == ["OPERATION_NOT_TRUSTED"]
        web_headers = as_caller("dana", "web")
        assert (await client.post("/graphql", json={"query": "{ hello }"}, headers=web_headers)).json()["data"]


def test_a_manifest_that_does_not_match_its_documents_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({sha256(HELLO): "query Other { hello }"}))
    with pytest.raises(ManifestError, match="not the SHA-256"):
        Manifest.load(path)
    path.write_text(json.dumps({sha256("{ hello"): "{ hello"}))
    with pytest.raises(ManifestError, match="does not parse"):
        Manifest.load(path)


def test_codegen_manifest_keys_may_carry_the_sha256_prefix(tmp_path: Path) -> None:
    # GraphQL Code Generator's client preset writes `sha256:<hex>` keys.
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({f"sha256:{sha256(HELLO)}": HELLO, sha256(ITEMS): ITEMS}))
    manifest = Manifest.load(path)
    assert len(manifest) == 2
    trusted = manifest.get(f"sha256:{sha256(HELLO)}")
    assert trusted is not None and trusted is manifest.get(sha256(HELLO))
    path.write_text(json.dumps({f"sha256:{sha256(HELLO)}": ITEMS}))
    with pytest.raises(ManifestError, match="not the SHA-256"):
        Manifest.load(path)


async def test_document_id_runs_a_listed_document(database: Database, tmp_path: Path) -> None:
    # GraphQL over HTTP's `documentId` request parameter, by POST and by GET, prefixed or bare.
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({f"sha256:{sha256(HELLO)}": HELLO, f"sha256:{sha256(ITEMS)}": ITEMS}))
    settings = settings_for(persisted_documents_path=path, persisted_documents_mode="only")
    async with client_for(settings, database) as client:
        posted = await client.post("/graphql", json={"documentId": f"sha256:{sha256(ITEMS)}", "variables": {"n": 2}})
        bare = await client.post("/graphql", json={"documentId": sha256(HELLO)})
        got = await client.get("/graphql", params={"documentId": f"sha256:{sha256(HELLO)}"})
        # Apollo's form still works beside it.
        apollo = await client.post("/graphql", json=by_hash(HELLO))
        unknown = await client.post("/graphql", json={"documentId": f"sha256:{sha256('{ secretField }')}"})
        mismatch = await client.post("/graphql", json={"documentId": sha256(HELLO), "query": "{ secretField }"})
        both = await client.post("/graphql", json={"documentId": sha256(HELLO), **by_hash(HELLO)})
    assert posted.json() == {"data": {"items": {"totalCount": 2}}, "extensions": posted.json()["extensions"]}
    assert bare.json()["data"] == {"hello": "world"}
    assert got.status_code == 200, got.text
    assert got.json()["data"] == {"hello": "world"}
    assert apollo.json()["data"] == {"hello": "world"}
    assert codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert codes(mismatch.json()) == ["BAD_REQUEST"]
    assert codes(both.json()) == ["BAD_REQUEST"]


async def test_document_id_without_a_manifest_is_not_supported(database: Database) -> None:
    async with client_for(settings_for(), database) as client:
        response = await client.post("/graphql", json={"documentId": f"sha256:{sha256(HELLO)}"})
    assert codes(response.json()) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
