"""Serving throughput: 16 streaming clients at once against the same 16 requests one at a time, on one server.

Starts `python -m engine serve MODEL` (the built-in model unless --model names another) on a free loopback port,
warms it up, then alternates the two ways of sending the same requests (greedy, exactly max_tokens each: the
tiny model would often end its turn after a few tokens, so min_tokens holds it to the length) --rounds times:
  one at a time  each request streams to its end before the next is sent
  concurrent     --clients threads each stream one request, all started together
Every client is the real `openai` client; tokens are the server's own count (stream_options.include_usage).
Printed per way: total tokens/s; per client tokens/s (min / median / max) and time to the first token; and
the ratio of the concurrent total to the one-at-a-time total. All clients must complete, and none is starved:
the slowest client's rate is printed beside the median's. The load average before and after is printed too
(`uptime`), as a shared machine's load changes every figure.

    python bench/serve_throughput.py              # ~1 min on 2 idle cores
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import openai

PROJECT = Path(__file__).resolve().parent.parent
PROMPTS = ["What is LoRA?", "Explain fine-tuning in one sentence.", "Name three fruits.", "What is a GPU?",
           "Tell me a joke.", "How do I bake bread?", "What is the capital of France?", "Why is the sky blue?"]


@dataclass
class Stream:
    tokens: int
    first_token_s: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def start_server(model: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", model, "--port", str(port)], cwd=PROJECT,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=2).models.list()
            return process, url
        except openai.APIConnectionError:
            time.sleep(0.5)
    raise TimeoutError("the server did not come up in 10 minutes")


def stream_one(url: str, model: str, prompt: str, max_tokens: int) -> Stream:
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)
    start = time.perf_counter()
    first, tokens = None, 0
    for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                                max_tokens=max_tokens, temperature=0, stream=True,
                                                stream_options={"include_usage": True},
                                                extra_body={"min_tokens": max_tokens}):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - start
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    seconds = time.perf_counter() - start
    return Stream(tokens, first if first is not None else seconds, seconds)


def one_at_a_time(url: str, model: str, prompts: list[str], max_tokens: int) -> tuple[list[Stream], float]:
    start = time.perf_counter()
    streams = [stream_one(url, model, prompt, max_tokens) for prompt in prompts]
    return streams, time.perf_counter() - start


def concurrent(url: str, model: str, prompts: list[str], max_tokens: int) -> tuple[list[Stream], float]:
    results: list[Stream | BaseException | None] = [None] * len(prompts)

    def client(index: int) -> None:
        try:
            results[index] = stream_one(url, model, prompts[index], max_tokens)
        except BaseException as err:  # reported below: a client that failed is a failed benchmark
            results[index] = err

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(prompts))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [result for result in results if not isinstance(result, Stream)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(prompts)} clients did not complete: {failed[0]!r}")
    return results, time.perf_counter() - start


def describe(name: str, streams: list[Stream], seconds: float) -> str:
    rates = sorted(stream.rate for stream in streams)
    firsts = sorted(stream.first_token_s for stream in streams)
    total = sum(stream.tokens for stream in streams)
    return (f"| {name} | {len(streams)} | {total} | {seconds:.1f} | {total / seconds:.1f} | "
            f"{rates[0]:.1f} / {statistics.median(rates):.1f} / {rates[-1]:.1f} | "
            f"{firsts[0]:.2f} / {statistics.median(firsts):.2f} / {firsts[-1]:.2f} |")


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-demo")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.clients)]
    before = load_average()
    process, url = start_server(args.model)
    try:
        stream_one(url, args.model, "Hello", 8)  # warm-up: first-call costs are nobody's throughput
        sequential, together = [], []
        for _ in range(args.rounds):  # alternated, so that a change in the machine's load hits both alike
            sequential.append(one_at_a_time(url, args.model, prompts, args.max_tokens))
            together.append(concurrent(url, args.model, prompts, args.max_tokens))
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    after = load_average()
    rate = {name: sum(sum(s.tokens for s in streams) for streams, _ in runs) / sum(sec for _, sec in runs)
            for name, runs in (("sequential", sequential), ("concurrent", together))}
    print(f"model {args.model}, {args.clients} clients, greedy, max_tokens {args.max_tokens}, {args.rounds} rounds")
    print(f"before: {before}\nafter:  {after}\n")
    print("| way | clients | tokens | seconds | tokens/s total | per client tokens/s min / median / max "
          "| first token s min / median / max |")
    print("|---|---|---|---|---|---|---|")
    for round_number, ((seq, seq_s), (con, con_s)) in enumerate(zip(sequential, together), 1):
        print(describe(f"one at a time, round {round_number}", seq, seq_s))
        print(describe(f"{args.clients} concurrent, round {round_number}", con, con_s))
    print(f"\nconcurrent vs one at a time (total tokens/s, all rounds): "
          f"{rate['concurrent'] / rate['sequential']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
