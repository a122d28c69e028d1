"""Call records: status and timing, transcript messages, events, per-turn latency, recordings."""
