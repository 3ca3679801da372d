"""Signed digests of the audit chain: the anchor the chain's writers cannot reach.

Modelled on CloudTrail's log-file integrity validation. Every few minutes the Digest function
(its own IAM role, the only one allowed to sign with the key or write the bucket) reads the
chain up to the writers' anchor and, when there are new entries, writes one digest:

    {"version": 1, "chain": "audit", "first_seq": 41, "last_seq": 57, "entry_count": 17,
     "last_hash": "<sha256 of entry 57>", "start_time": "<entry 41 at>", "end_time": "<entry 57 at>",
     "digest_time": "...", "previous_digest_key": "digests/audit/000000000040.json",
     "previous_digest_hash": "<sha256 of the previous digest's canonical JSON>",
     "key_id": "<KMS key ARN>", "signing_algorithm": "ECDSA_SHA_256"}

The signed message is the digest's canonical JSON (sorted keys, no spaces, ASCII); KMS signs it
with ECDSA_SHA_256, i.e. over its SHA-256 (MessageType RAW: the message is at most 4 KB, and
KMS hashes it exactly as MessageType DIGEST would expect us to; local AWS ignores DIGEST and
would hash twice, so RAW keeps local and deployed signatures identical). The stored object is
`{"digest": {...}, "signature": "<base64 DER>"}` under `digests/<chain>/<last_seq, 12 digits>.json`,
written with If-None-Match: * into a bucket with Object Lock in COMPLIANCE mode, so a digest is
never overwritten or deleted during its retention.

A digest is written only when the chain has grown since the last one: a quiet chain adds no
objects. Liveness is watched instead: the Digest function publishes `AuditChainBroken` (0 or 1)
on every run, and an alarm fires when it is 1 or when no value arrived for 15 minutes.

This module is pure: the format, its canonical bytes and checking a signature with the key's
public half (the `cryptography` package; the public key comes from KMS GetPublicKey once).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DIGEST_VERSION = 1
DIGEST_PREFIX = "digests/"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
MAX_SIGNED_BYTES = 4096  # KMS Sign with MessageType RAW
_HEX64 = r"^[0-9a-f]{64}$"
_KEY = re.compile(r"^digests/(?P<chain>[A-Za-z0-9_-]+)/(?P<seq>\d{12})\.json$")

SignatureCheck = Callable[[bytes, bytes], bool]


class Digest(BaseModel):
    """What one digest asserts about the chain; every field is signed."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    version: Literal[1]
    chain: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    first_seq: int = Field(ge=1)
    last_seq: int = Field(ge=1)
    entry_count: int = Field(ge=1)
    last_hash: str = Field(pattern=_HEX64)
    start_time: str = Field(min_length=1, max_length=64)
    end_time: str = Field(min_length=1, max_length=64)
    digest_time: str = Field(min_length=1, max_length=64)
    previous_digest_key: str | None = Field(max_length=256)
    previous_digest_hash: str | None = Field(pattern=_HEX64)
    key_id: str = Field(min_length=1, max_length=2048)
    signing_algorithm: Literal["ECDSA_SHA_256"]

    @model_validator(mode="after")
    def _consistent(self) -> "Digest":
        if self.last_seq < self.first_seq:
            raise ValueError("last_seq is before first_seq")
        if self.entry_count != self.last_seq - self.first_seq + 1:
            raise ValueError("entry_count does not match first_seq..last_seq")
        if (self.previous_digest_key is None) != (self.previous_digest_hash is None):
            raise ValueError("previous_digest_key and previous_digest_hash go together")
        return self

    def canonical(self) -> bytes:
        """The exact bytes that are signed (and hashed by the next digest)."""
        return canonical_json(self.model_dump())

    def digest_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def canonical_json(values: dict[str, Any]) -> bytes:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def digest_key(chain: str, last_seq: int) -> str:
    """Ordered object keys: listing the prefix gives the digests in chain order."""
    return f"{DIGEST_PREFIX}{chain}/{last_seq:012d}.json"


def chain_prefix(chain: str) -> str:
    return f"{DIGEST_PREFIX}{chain}/"


def envelope(digest: Digest, signature: bytes) -> bytes:
    """The stored object: the digest and its signature, one JSON document."""
    return json.dumps({"digest": digest.model_dump(), "signature": base64.b64encode(signature).decode("ascii")},
                      sort_keys=True, indent=1).encode("utf-8")


@dataclass(frozen=True)
class ParsedDigest:
    key: str
    digest: Digest
    signature: bytes


class MalformedDigest(ValueError):
    """A stored object that is not a well-formed digest envelope."""


def parse_envelope(key: str, body: bytes) -> ParsedDigest:
    """Parse a stored digest strictly; anything unexpected is MalformedDigest (never another error)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedDigest(f"digest {key} is not JSON") from exc
    if not isinstance(document, dict) or set(document) != {"digest", "signature"}:
        raise MalformedDigest(f"digest {key} is not a digest envelope (expected exactly 'digest' and 'signature')")
    if not isinstance(document["signature"], str):
        raise MalformedDigest(f"digest {key} has no signature")
    try:
        signature = base64.b64decode(document["signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedDigest(f"digest {key} has a signature that is not base64") from exc
    try:
        digest = Digest.model_validate(document["digest"])
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'digest'}: {e['msg']}" for e in exc.errors())
        raise MalformedDigest(f"digest {key} is malformed ({fields})") from exc
    return ParsedDigest(key, digest, signature)


def key_matches(key: str, digest: Digest) -> bool:
    match = _KEY.match(key)
    return bool(match) and match.group("chain") == digest.chain and int(match.group("seq")) == digest.last_seq


def signature_check(public_key_der: bytes, algorithm: str = SIGNING_ALGORITHM) -> SignatureCheck:
    """A local verifier for signatures made by the KMS key whose public half (DER, from GetPublicKey) is given.

    KMS ECDSA signatures are DER-encoded (r, s) over SHA-256 of the message, which is what
    `cryptography` verifies. Returns a function (message, signature) -> bool that never raises.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    if algorithm != SIGNING_ALGORITHM:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}")
    key = load_der_public_key(public_key_der)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the signing key is not an elliptic-curve key")

    def check(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            return True
        except (InvalidSignature, ValueError):
            return False

    return check
