"""Unambiguous byte strings for what a ciphertext is bound to (AES-GCM associated data, HPKE ``info``).

Joining fields with a separator would let ``("ab", "c")`` and ``("a", "bc")`` collide; every field here is
length-prefixed and the whole is labelled, so two different identities never encode to the same bytes.
"""
from __future__ import annotations

import struct


def bind(label: str, *fields: str | int | bytes) -> bytes:
    """Encode ``label`` and ``fields`` (str as UTF-8, int as unsigned 64-bit) injectively."""
    parts = [label.encode()]
    for field in fields:
        if isinstance(field, bool):
            raise TypeError("bind() does not take booleans")
        if isinstance(field, int):
            data = struct.pack(">Q", field)
        elif isinstance(field, str):
            data = field.encode()
        else:
            data = bytes(field)
        parts.append(data)
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)
