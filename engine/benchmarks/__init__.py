"""Benchmarks and judges: standard tasks through lm-evaluation-harness (catalog, local tasks, harness), and
replies graded by any OpenAI-compatible model (judge)."""
