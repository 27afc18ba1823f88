"""Trusted documents: the persisted-operation manifest a client build produces, loaded once at start-up.

Two manifest formats are read, both keyed by the SHA-256 of the document text (hex, optionally written
`sha256:<hex>`, the prefixed form GraphQL over HTTP recommends for `documentId`):
- GraphQL Code Generator's client preset (`persistedDocuments: true`): `{"sha256:<hex>": "<document>", ...}`
  (older versions and other tools write the bare `<hex>`);
- Apollo's persisted query manifest: `{"format": "apollo-persisted-query-manifest", "version": 1,
  "operations": [{"id": "<sha256>", "name": ..., "type": ..., "body": "<document>"}, ...]}`.
Every id is checked against its document's hash and every document is parsed at load time: a manifest that
does not match its documents is a build error, reported when the gateway starts rather than on a request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from graphql import DocumentNode, GraphQLSyntaxError, parse

APOLLO_FORMAT = "apollo-persisted-query-manifest"
# GraphQL over HTTP, persisted documents: a document identifier names its hash algorithm, `sha256:<hex>`.
SHA256_PREFIX = "sha256:"


class ManifestError(Exception):
    """The manifest cannot be used; the message names the file and the entry, `path` the file."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def document_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hex_digest(document_id: str) -> str:
    """The lower-case hex SHA-256 an identifier names, whether written `<hex>` or `sha256:<hex>`."""
    lowered = document_id.lower()
    return lowered.removeprefix(SHA256_PREFIX)


@dataclass
class TrustedDocument:
    sha256: str
    text: str
    document: DocumentNode
    # Set once the document validated without errors against the schema and its rules (which do not change
    # while the process runs): later requests skip validation.
    validated: bool = False


class Manifest:
    def __init__(self, documents: dict[str, str], *, source: str = "<memory>") -> None:
        self.documents: dict[str, TrustedDocument] = {}
        for key, text in documents.items():
            sha256 = hex_digest(key)
            if document_hash(text) != sha256:
                raise ManifestError(f"{source}: entry {key} is not the SHA-256 of its document")
            try:
                document = parse(text)
            except GraphQLSyntaxError as error:
                raise ManifestError(f"{source}: entry {key} does not parse: {error.message}") from None
            self.documents[sha256] = TrustedDocument(sha256, text, document)

    def get(self, document_id: str) -> TrustedDocument | None:
        """The document an identifier (`<hex>` or `sha256:<hex>`) names, if listed."""
        return self.documents.get(hex_digest(document_id))

    def __len__(self) -> int:
        return len(self.documents)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ManifestError(f"{path}: cannot read the manifest: {error}", path) from None
        try:
            return cls(_entries(data, str(path)), source=str(path))
        except ManifestError as error:
            raise ManifestError(str(error), path) from None


def _entries(data: object, source: str) -> dict[str, str]:
    if isinstance(data, dict) and data.get("format") == APOLLO_FORMAT:
        if data.get("version") != 1 or not isinstance(data.get("operations"), list):
            raise ManifestError(f"{source}: unsupported Apollo manifest version {data.get('version')!r}")
        entries: dict[str, str] = {}
        for operation in data["operations"]:
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
            ):
                raise ManifestError(f"{source}: an operation lacks a string `id` or `body`")
            entries[operation["id"]] = operation["body"]
        return entries
    if isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return dict(data)
    raise ManifestError(f"{source}: expected an object of sha256 -> document, or an Apollo manifest")
