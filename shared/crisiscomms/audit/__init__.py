"""Audit: verifying the tamper-evident chain, and the command line that does it from a shell.

Owns `verification` and `cli`. The entry format and its hashing are the shared contract in
`crisiscomms.models.audit`; appending lives in `crisiscomms.aws.audit_log`. May import models,
errors and (the command line only) `aws`.
"""
