"""Serving a run, several runs of one base, an export or a base model through an OpenAI-compatible API.

  targets.py     what TARGET names (run folders, an export folder, a GGUF file, a model) and which backend fits
  batching.py    the transformers backend's scheduler: requests that arrive together are generated as one batch
  protocol.py    the OpenAI endpoints of the transformers backend (/v1/models, /v1/chat/completions, /v1/completions)
  guard.py       what every backend sits behind: the API key, request size, max_tokens and concurrent streams
  backends.py    the table of backends (transformers, llama.cpp, vLLM) and starting one
  processes.py   servers the studio started in the background, listed in a state file of the workspace
"""
