"""Verify the audit chain from a shell: `python -m crisiscomms.audit.cli --audit-table T --state-table S`.

Prints the verification as JSON and exits 1 when an entry is altered or missing. Uses the
ordinary AWS credential chain (or AWS_ENDPOINT_URL for local AWS).
"""
from __future__ import annotations

import argparse
import json
import sys

from crisiscomms.audit.verification import verify_chain
from crisiscomms.aws.audit_log import CHAIN, AuditLog
from crisiscomms.aws.clients import AwsClients


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crisiscomms.audit.cli", description="Verify the tamper-evident audit chain.")
    parser.add_argument("--audit-table", required=True)
    parser.add_argument("--state-table", required=True)
    parser.add_argument("--chain", default=CHAIN)
    args = parser.parse_args(argv)
    log = AuditLog(args.audit_table, args.state_table, clients=AwsClients(), chain=args.chain)
    result = verify_chain(log.records(), log.head())
    print(json.dumps(result.as_dict()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
