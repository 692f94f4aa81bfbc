"""The engine: dispatcher, rate limits, retries, reconciliation, fallback, the bulk queue."""
