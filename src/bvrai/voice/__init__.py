"""The real-time call session: a published agent version running on pipecat."""
