"""Audit: the signed digests that anchor the tamper-evident chain, and verifying the chain against them.

Owns `digests` (the digest format, its canonical bytes, signature checks), `digester` (the
Digest function's run: check the chain still matches the last digest, sign the new entries),
`verification` (the whole chain against every digest and the anchor) and `cli`. The entry
format and its hashing are the shared contract in `crisiscomms.models.audit`; appending lives in
`crisiscomms.aws.audit_log`, the digest bucket and signing key in `crisiscomms.aws.digest_store`.
May import models, errors and (the command line only) `aws`.

Trust: the writers (desk API, Publisher, Detector) may put entries and move the anchor, so
neither is evidence. Digests are: only the Digest function's role may sign with the KMS key or
write the Object Lock (COMPLIANCE) bucket, and a digest is never overwritten. A digest is
written when the chain has grown since the last one (every 5 minutes at most); the window after
the latest digest is reported by every verification.
"""
