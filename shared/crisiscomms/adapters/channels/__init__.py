"""Publishing adapters, one module per official channel (see crisiscomms.channels.base)."""
