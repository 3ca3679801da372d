"""Listening sources: one module per platform API the Poller reads."""
