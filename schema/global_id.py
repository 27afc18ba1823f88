"""Opaque global IDs: defined in resolvers.global_id (audit snapshots written there speak them too)."""

from resolvers.global_id import decode, decode_any, encode

__all__ = ["decode", "decode_any", "encode"]
