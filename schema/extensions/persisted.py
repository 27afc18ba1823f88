"""Persisted (trusted) documents: run a listed document by its hash, and optionally nothing else.

A document is named by its SHA-256 in either of the request forms clients send: Apollo's (`{"extensions":
{"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}`, with or without the query text), or GraphQL over
HTTP's `documentId` request parameter (`{"documentId": "sha256:<hex>"}`, the bare hex accepted too, sent
without `query`; the view carries it here as the `documentId` operation extension). A listed document is
handed to execution already parsed (the manifest parsed it once at start-up) and, once it has validated
cleanly, without validating again.

Modes (setting `persisted_documents_mode`):
- "allow": listed documents run by hash; other documents run as usual (parsed, validated, limited).
- "only": only listed documents run, whether sent by hash or as text; anything else is OPERATION_NOT_TRUSTED.
A client_id with its own manifest (`persisted_documents_per_client`) is held to that manifest alone.

Unknown hashes are PERSISTED_QUERY_NOT_FOUND; a malformed `persistedQuery` or no manifest at all is
PERSISTED_QUERY_NOT_SUPPORTED; a query text that does not match its hash is BAD_REQUEST.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, parse
from strawberry.extensions import SchemaExtension

from resolvers.codes import Code
from schema.extensions.errors import coded_error
from schema.extensions.persisted_manifest import Manifest, TrustedDocument, document_hash, hex_digest

# The operation extension under which the HTTP view passes a request's `documentId` parameter.
DOCUMENT_ID_EXTENSION = "documentId"

# Stands in for the document of a refused operation, so that Strawberry proceeds to the parse step, where the
# refusal is raised (see `on_operation`).
_PLACEHOLDER = parse("{ __typename }")


@dataclass(frozen=True, slots=True)
class TrustRules:
    """Which manifest holds a caller to what: built once from the settings, read per operation."""

    manifest: Manifest | None
    per_client: dict[str, Manifest]
    only: bool

    def manifest_for(self, context: Any) -> tuple[Manifest | None, bool]:
        """The caller's manifest, and whether it may run only what that manifest lists."""
        principal = getattr(context, "principal", None)
        client_id = getattr(principal, "client_id", None)
        if client_id is not None and client_id in self.per_client:
            return self.per_client[client_id], True
        return self.manifest, self.only

    def admits_text(self, context: Any, query: str) -> bool:
        """Whether a document sent as text alone (no hash, no `documentId`) may run for this caller."""
        manifest, only = self.manifest_for(context)
        return not only or (manifest is not None and manifest.get(document_hash(query)) is not None)


class PersistedDocuments(SchemaExtension):
    def __init__(self, *, rules: TrustRules) -> None:
        self.rules = rules
        self.trusted: TrustedDocument | None = None
        self.refusal: GraphQLError | None = None

    def _resolve(self) -> TrustedDocument | None:
        context = self.execution_context
        manifest, only = self.rules.manifest_for(context.context)
        operation_extensions = context.operation_extensions or {}
        persisted = operation_extensions.get("persistedQuery")
        document_id = operation_extensions.get(DOCUMENT_ID_EXTENSION)
        if document_id is not None:
            return self._by_document_id(document_id, manifest)
        if persisted is not None:
            sha256 = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
            if not isinstance(sha256, str) or persisted.get("version") != 1 or manifest is None:
                raise coded_error(
                    "Persisted queries (version 1, sha256Hash) are not supported here.",
                    Code.PERSISTED_QUERY_NOT_SUPPORTED,
                )
            if context.query and document_hash(context.query) != sha256.lower():
                raise coded_error("The query text does not match its sha256Hash.", Code.BAD_REQUEST)
            trusted = manifest.get(sha256)
            if trusted is None:
                raise coded_error("PersistedQueryNotFound", Code.PERSISTED_QUERY_NOT_FOUND)
            return trusted
        if only:
            trusted = manifest.get(document_hash(context.query or "")) if manifest is not None else None
            if trusted is None:
                raise coded_error("Only trusted (persisted) documents may run here.", Code.OPERATION_NOT_TRUSTED)
            return trusted
        return None

    def _by_document_id(self, document_id: object, manifest: Manifest | None) -> TrustedDocument:
        context = self.execution_context
        if manifest is None:
            raise coded_error(
                "Persisted documents (documentId) are not supported here.", Code.PERSISTED_QUERY_NOT_SUPPORTED
            )
        if not isinstance(document_id, str):
            raise coded_error("`documentId` must be a string.", Code.BAD_REQUEST)
        if (context.operation_extensions or {}).get("persistedQuery") is not None:
            raise coded_error("Send `documentId` or `extensions.persistedQuery`, not both.", Code.BAD_REQUEST)
        if context.query and document_hash(context.query) != hex_digest(document_id):
            raise coded_error("The query text does not match its documentId.", Code.BAD_REQUEST)
        trusted = manifest.get(document_id)
        if trusted is None:
            raise coded_error("PersistedQueryNotFound", Code.PERSISTED_QUERY_NOT_FOUND)
        return trusted

    def on_operation(self) -> Iterator[None]:
        # Raising here would leave the operation hooks of earlier extensions entered and never exited
        # (Strawberry enters them one by one without unwinding on failure); the refusal is raised from
        # `on_parse` instead.
        context = self.execution_context
        try:
            self.trusted = self._resolve()
        except GraphQLError as refusal:
            self.refusal = refusal
            context.graphql_document = _PLACEHOLDER
        if self.trusted is not None:
            context.query = self.trusted.text
            context.graphql_document = self.trusted.document
        yield

    def on_parse(self) -> Iterator[None]:
        if self.refusal is not None:
            raise self.refusal
        yield

    def on_validate(self) -> Iterator[None]:
        trusted = self.trusted
        if trusted is not None and trusted.validated:
            self.execution_context.pre_execution_errors = []
        yield
        if trusted is not None and self.execution_context.pre_execution_errors == []:
            trusted.validated = True
