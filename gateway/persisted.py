"""Trusted documents: the persisted-operation manifest a client build produces, loaded once at start-up.

Two manifest formats are read, both keyed by the SHA-256 of the document text (hex):
- GraphQL Code Generator's client preset (`persistedDocuments: true`): `{"<sha256>": "<document>", ...}`;
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


class ManifestError(Exception):
    """The manifest cannot be used; the message names the file and the entry."""


def document_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
        for sha256, text in documents.items():
            if document_hash(text) != sha256.lower():
                raise ManifestError(f"{source}: entry {sha256} is not the SHA-256 of its document")
            try:
                document = parse(text)
            except GraphQLSyntaxError as error:
                raise ManifestError(f"{source}: entry {sha256} does not parse: {error.message}") from None
            self.documents[sha256.lower()] = TrustedDocument(sha256.lower(), text, document)

    def get(self, sha256: str) -> TrustedDocument | None:
        return self.documents.get(sha256.lower())

    def __len__(self) -> int:
        return len(self.documents)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ManifestError(f"{path}: cannot read the manifest: {error}") from None
        return cls(_entries(data, str(path)), source=str(path))


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
