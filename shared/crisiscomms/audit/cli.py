"""Verify the audit chain from a shell.

    python -m crisiscomms.audit.cli --audit-table T --state-table S --digest-bucket B --signing-key K

Checks every entry against every signed digest in the bucket (signatures verified locally with
the key's public half, fetched once with kms:GetPublicKey), the digests' own chain, and the
anchor's consistency. Prints the verification as JSON, including the window of entries no
digest covers yet, and exits 1 when anything is altered, missing, malformed or out of place.
Works before the first digest exists (every entry is then uncovered). Uses the ordinary AWS
credential chain (or AWS_ENDPOINT_URL for local AWS).
"""
from __future__ import annotations

import argparse
import json
import sys

from crisiscomms.audit.digests import chain_prefix, signature_check
from crisiscomms.audit.verification import verify_chain
from crisiscomms.aws.audit_log import CHAIN, AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.digest_store import DigestStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crisiscomms.audit.cli", description="Verify the tamper-evident audit chain.")
    parser.add_argument("--audit-table", required=True)
    parser.add_argument("--state-table", required=True)
    parser.add_argument("--digest-bucket", required=True, help="the Object Lock bucket of signed digests")
    parser.add_argument("--signing-key", required=True, help="the KMS key (id or ARN) that signs the digests")
    parser.add_argument("--chain", default=CHAIN)
    args = parser.parse_args(argv)
    clients = AwsClients()
    log = AuditLog(args.audit_table, args.state_table, clients=clients, chain=args.chain)
    store = DigestStore(args.digest_bucket, args.signing_key, clients=clients)
    check = signature_check(store.public_key())
    digests = store.all(chain_prefix(args.chain))
    anchor = log.head()
    result = verify_chain(log.records(), anchor, digests, signature_check=check, chain=args.chain, latest_anchor=log.head)
    print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
