"""What an auditor can ask: read-only queries over every record kind, exports with a manifest, and their verification.

Owns the auditor's use cases (`queries`), exports (`export`: the desk's request and the Exporter's run) and
the export check (`verify`, and `cli` for operators). May import models, errors, identity, observability and
`crisiscomms.audit` (the chain's verification); reads and writes go through collaborators the wiring passes
in (`crisiscomms.aws.record_reader`, `series_store`, `export_store`), imported here only by the CLI, which
is its own composition root. Never imports another capability.
"""
