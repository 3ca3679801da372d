"""crisiscomms: listen, detect, speak with one voice, prove it. The domain package, shipped as a Lambda layer.

Layers, top to bottom (checked by import-linter, see pyproject.toml):

    functions/*/app.py   thin handlers
    wiring               the composition root: settings -> clients -> repositories -> use cases
    api                  the desk's REST routes; errors mapped to HTTP in one place
    listening | detection | statements    the capabilities, independent of each other
    audit | watch        chain verification; the watch configuration (topics, sources, thresholds)
    scoring              language, polarity, crisis terms, risk (offline, stdlib only)
    aws | adapters       the only code that speaks to AWS (boto3) / to platforms (httpx)
    models, identity, settings, observability, batch, errors, clock    shared contracts
"""
