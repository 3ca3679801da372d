"""Publishing adapters, one module per official channel (see crisiscomms.models.delivery)."""
