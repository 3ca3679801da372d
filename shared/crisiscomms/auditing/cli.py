"""Verify an auditor's export from a shell.

    python -m crisiscomms.auditing.cli verify-export --export-id ex-0123456789abcdef \\
        --export-bucket B --posts-table P --alerts-table A --statements-table S --audit-table T --state-table ST \\
        [--inbox-table I] [--aggregates-table G] [--digest-bucket D --signing-key K]

--inbox-table is needed for an export holding conversations, replies or templates, --aggregates-table
for one holding minute or hour figures; without them those kinds are reported as not verified.

Reads the export's manifest and files, re-reads the live records over its range and checks the audit
chain (crisiscomms.auditing.verify says what is checked). With the digest bucket and signing key, the
live chain is also verified against every signed digest and the digest the manifest named is compared.
Prints the result as JSON and exits 1 when anything is changed, missing, extra or broken. Uses the
ordinary AWS credential chain (or AWS_ENDPOINT_URL for local AWS).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from crisiscomms import clock
from crisiscomms.audit.digests import chain_prefix, signature_check
from crisiscomms.audit.verification import verify_chain
from crisiscomms.auditing.verify import verify_export
from crisiscomms.aws.audit_log import CHAIN, AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.digest_store import DigestStore
from crisiscomms.aws.export_store import ExportFileStore
from crisiscomms.aws.record_reader import RecordReader, RecordTables
from crisiscomms.models.export import EXPORT_ID_PATTERN


def _export_id(value: str) -> str:
    if not re.fullmatch(EXPORT_ID_PATTERN, value):
        raise argparse.ArgumentTypeError("an export id: ex- and 16 hex digits")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crisiscomms.auditing.cli", description="Auditors' exports.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify-export", help="check an export against the live records and the audit chain")
    verify.add_argument("--export-id", required=True, type=_export_id)
    verify.add_argument("--export-bucket", required=True)
    verify.add_argument("--posts-table", required=True)
    verify.add_argument("--alerts-table", required=True)
    verify.add_argument("--statements-table", required=True)
    verify.add_argument("--audit-table", required=True)
    verify.add_argument("--state-table", required=True)
    verify.add_argument("--inbox-table", help="conversations, replies and reply templates")
    verify.add_argument("--aggregates-table", help="minute and hour figures")
    verify.add_argument("--digest-bucket", help="the Object Lock bucket of signed digests")
    verify.add_argument("--signing-key", help="the KMS key (id or ARN) that signs the digests")
    args = parser.parse_args(argv)
    if bool(args.digest_bucket) != bool(args.signing_key):
        parser.error("--digest-bucket and --signing-key go together")

    clients = AwsClients()
    log = AuditLog(args.audit_table, args.state_table, clients=clients)
    records = RecordReader(RecordTables(posts=args.posts_table, alerts=args.alerts_table,
                                        statements=args.statements_table, audit=args.audit_table,
                                        inbox=args.inbox_table, aggregates=args.aggregates_table,
                                        state=args.state_table), clients=clients)
    chain_verification = digest_object = None
    if args.digest_bucket:
        store = DigestStore(args.digest_bucket, args.signing_key, clients=clients)

        def chain_verification() -> Any:
            check = signature_check(store.public_key())
            return verify_chain(log.records(), log.head(), store.all(chain_prefix(CHAIN)), signature_check=check,
                                latest_anchor=log.head)

        def digest_object(key: str) -> bytes | None:
            found = [d for d in store.all(key) if d.key == key]
            return found[0].body if found else None
    else:
        def chain_verification() -> Any:
            return verify_chain(log.records(), log.head(), None, latest_anchor=log.head)

    def live_entry(seq: int) -> dict[str, Any] | None:
        return next(iter(log.records_between(seq, seq)), None)

    result = verify_export(args.export_id, files=ExportFileStore(args.export_bucket, clients=clients), live=records,
                           live_entry=live_entry, chain_verification=chain_verification, digest_object=digest_object,
                           now=clock.now())
    print(json.dumps(result.as_dict(), ensure_ascii=False, indent=1))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
