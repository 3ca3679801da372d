"""Platform adapters: the only package that imports httpx.

`sources/` read platforms (a pure parser from the documented payload to `Post`, plus a client),
`channels/` publish to them (one adapter per official channel, keeping the `models.delivery`
contract), `http` holds what they share (timeouts, error mapping, bounded retries). May import
models, errors and clock; never a capability.
"""
