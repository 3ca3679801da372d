"""Platform adapters: the only code that speaks HTTP. Each one is a pure payload parser plus a client."""
