"""The audit digests' bucket (S3 Object Lock, COMPLIANCE mode) and signing key (asymmetric KMS).

Only the Digest function's role may write the bucket or sign with the key; the verifiers may
list object versions, read them and fetch the key's public half. Listings use object
*versions*, so a digest hidden behind a delete marker, or written twice, is still seen (and
reported by the verifier). Writes carry If-None-Match: * so an existing digest is never replaced.

The format of what is stored is `crisiscomms.audit.digests`; this module moves bytes.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms.errors import ConfigurationError

PREFIX = "digests/"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
READ_CONCURRENCY = 16


@dataclass
class _Listed:
    versions: list[str] = field(default_factory=list)  # newest first, as S3 lists them
    deleted: bool = False  # the key's current version is a delete marker


@dataclass(frozen=True)
class StoredObject:
    """A digest object as found: its original version's bytes, and how many versions the key has."""

    key: str
    body: bytes | None
    versions: int
    deleted: bool


class DigestStore:
    def __init__(self, bucket: str, key_id: str, *, clients: AwsClients) -> None:
        self._bucket = bucket
        self.key_id = key_id
        self._clients = clients
        self._public_key: bytes | None = None
        self._last_key: dict[str, str] = {}

    # --- the bucket ------------------------------------------------------------------------------

    def _listing(self, prefix: str, *, after: str | None = None) -> dict[str, _Listed]:
        s3 = self._clients("s3")
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        if after:
            kwargs["KeyMarker"] = after
        found: dict[str, _Listed] = {}
        while True:
            page = s3.list_object_versions(**kwargs)
            for version in page.get("Versions", []):
                found.setdefault(version["Key"], _Listed()).versions.append(version["VersionId"])
            for marker in page.get("DeleteMarkers", []):
                listed = found.setdefault(marker["Key"], _Listed())
                listed.deleted = listed.deleted or bool(marker.get("IsLatest"))
            if not page.get("IsTruncated"):
                return found
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")

    def _read(self, key: str, listed: _Listed) -> StoredObject:
        body = None
        if listed.versions:
            answer = self._clients("s3").get_object(Bucket=self._bucket, Key=key, VersionId=listed.versions[-1])
            body = answer["Body"].read()
        return StoredObject(key, body, len(listed.versions), listed.deleted)

    def all(self, prefix: str) -> list[StoredObject]:
        """Every object under the prefix in key order, each read at its original version."""
        listing = sorted(self._listing(prefix).items())
        if not listing:
            return []
        with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, len(listing))) as pool:
            return list(pool.map(lambda item: self._read(*item), listing))

    def latest(self, prefix: str) -> StoredObject | None:
        """The object with the greatest key under the prefix (listing only past the last one seen)."""
        seen = self._last_key.get(prefix)
        listing = self._listing(prefix, after=seen)
        if not listing and seen:
            listing = self._listing(seen)
        if not listing:
            return None
        key = max(listing)
        self._last_key[prefix] = key
        return self._read(key, listing[key])

    def put_new(self, key: str, body: bytes) -> bool:
        """Write an object that must not exist yet: False when it already does (nothing is replaced)."""
        from botocore.exceptions import ClientError

        try:
            self._clients("s3").put_object(Bucket=self._bucket, Key=key, Body=body, IfNoneMatch="*",
                                           ContentType="application/json", ChecksumAlgorithm="SHA256")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    # --- the key ---------------------------------------------------------------------------------

    def sign(self, message: bytes) -> bytes:
        """ECDSA_SHA_256 over the message (KMS hashes it: MessageType RAW, at most 4 KB)."""
        answer = self._clients("kms").sign(KeyId=self.key_id, Message=message, MessageType="RAW",
                                           SigningAlgorithm=SIGNING_ALGORITHM)
        return bytes(answer["Signature"])

    def public_key(self) -> bytes:
        """The signing key's public half (DER SubjectPublicKeyInfo), fetched once per process."""
        if self._public_key is None:
            answer = self._clients("kms").get_public_key(KeyId=self.key_id)
            if SIGNING_ALGORITHM not in answer.get("SigningAlgorithms", []):
                raise ConfigurationError(f"KMS key {self.key_id} cannot sign with {SIGNING_ALGORITHM}")
            self._public_key = bytes(answer["PublicKey"])
        return self._public_key
