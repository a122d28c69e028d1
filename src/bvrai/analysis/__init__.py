"""Post-call analysis: summary, structured data, success verdict and sentiment, from an LLM."""
