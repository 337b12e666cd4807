"""The transformers backend's scheduler: requests that arrive while the model is busy are generated together.

One thread owns the model. It takes the oldest waiting request and every other waiting request that can share
its batch (the same model id, so one adapter is active, and the same sampling: temperature, top_p, seed), pads
them on the left and runs one `generate`. Each row streams its own text, stops at its own max_tokens, stop
strings or end of turn, and stops at once when its client goes away. Requests of different adapters never share
a batch: `set_adapter` switches the whole model, so they take turns (engine.use.chat.active holds the model).
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from engine.use.chat import ChatModel, active

GATHER_SECONDS = 0.02  # a quiet spell this long ends the wait for more requests to join a batch
MAX_GATHER_SECONDS = 0.25  # the longest the first request of a batch waits for others
MAX_BATCH = 32


@dataclass
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    min_tokens: int = 0  # vLLM's extension: no end of turn before this many tokens

    @property
    def batch_key(self) -> tuple:
        """Requests batch together when they sample alike (greedy ones always do)."""
        sampled = (0.0, 1.0, None) if self.temperature <= 0 else (self.temperature, self.top_p, self.seed)
        return (*sampled, self.min_tokens)


@dataclass
class Generation:
    """One request in the scheduler: its prompt tokens in, its text out as (piece, finish_reason) events."""

    chat: ChatModel
    model_id: str
    prompt_ids: list[int]
    sampling: Sampling
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    tokens: list[int] = field(default_factory=list)
    sent: str = ""
    finish_reason: str | None = None

    def emit(self, piece: str, finish_reason: str | None = None) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, (piece, finish_reason))

    async def pieces(self):
        """The text as it grows, piece by piece; ends with the finish reason ("stop", "length")."""
        try:
            while True:
                piece, finish_reason = await self.events.get()
                if isinstance(finish_reason, BaseException):
                    raise finish_reason
                if piece:
                    yield piece, None
                if finish_reason:
                    yield "", finish_reason
                    return
        finally:  # the client went away or the stream ended: either way the row needs no more tokens
            self.cancelled.set()


class Scheduler:
    """Batches waiting Generations and runs them on a thread of its own."""

    def __init__(self):
        self._waiting: list[Generation] = []
        self._ready = threading.Condition()
        threading.Thread(target=self._loop, name="generation", daemon=True).start()

    def submit(self, generation: Generation) -> None:
        with self._ready:
            self._waiting.append(generation)
            self._ready.notify()

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                run_batch(batch)
            except BaseException as err:  # handed to each waiting client, which answers with a server error
                for generation in batch:
                    generation.emit("", err)

    def _next_batch(self) -> list[Generation]:
        with self._ready:
            self._ready.wait_for(lambda: self._waiting)
        self._gather()
        with self._ready:
            first = self._waiting[0]
            key = (first.model_id, first.sampling.batch_key)
            batch = [g for g in self._waiting if (g.model_id, g.sampling.batch_key) == key][:MAX_BATCH]
            self._waiting = [g for g in self._waiting if g not in batch]
        return [g for g in batch if not g.cancelled.is_set()] or self._next_batch()

    def _gather(self) -> None:
        """Let requests sent at about the same moment join: wait while more keep arriving (a short quiet spell
        ends it, and MAX_GATHER_SECONDS at most)."""
        deadline = time.monotonic() + MAX_GATHER_SECONDS
        seen = -1
        while len(self._waiting) != seen and len(self._waiting) < MAX_BATCH and time.monotonic() < deadline:
            seen = len(self._waiting)
            threading.Event().wait(GATHER_SECONDS)


def run_batch(batch: list[Generation]) -> None:
    """Generate every row of `batch` to its end, streaming each row's text to its client."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    chat = batch[0].chat
    input_ids, attention_mask = _left_padded([g.prompt_ids for g in batch], chat.tokenizer.pad_token_id)
    streamer = RowStreamer(batch, set(chat.stop_token_ids))

    class RowsDone(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.tensor([g.finish_reason is not None or g.cancelled.is_set() for g in batch])

    sampling = batch[0].sampling
    sampled = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
    with active(chat), torch.inference_mode():
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        chat.model.generate(
            input_ids=input_ids.to(chat.model.device), attention_mask=attention_mask.to(chat.model.device),
            max_new_tokens=max(g.sampling.max_tokens for g in batch), min_new_tokens=sampling.min_tokens,
            eos_token_id=chat.stop_token_ids,
            pad_token_id=chat.tokenizer.pad_token_id, streamer=streamer,
            stopping_criteria=StoppingCriteriaList([RowsDone()]),
            **(sampled if sampling.temperature > 0 else {"do_sample": False}),
        )
    streamer.end()


def _left_padded(rows: list[list[int]], pad_id: int):
    import torch

    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(row)) + row for row in rows])
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows])
    return ids, mask


class RowStreamer:
    """A transformers streamer for a batch: each new column of tokens goes to its row's client as text.

    Text is decoded whole each step and only the settled part is sent: not a piece that ends in half a
    character (byte-level BPE spreads one over several tokens), nor the tail that could still become a stop
    string. Bytes that never become a character are dropped, as in the Chat tab.
    """

    def __init__(self, batch: list[Generation], stop_ids: set[int]):
        self.batch, self.stop_ids, self.prompt_seen = batch, stop_ids, False

    def put(self, value) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        for generation, token in zip(self.batch, value.tolist()):
            if generation.finish_reason is None:
                self._advance(generation, token)

    def _advance(self, generation: Generation, token: int) -> None:
        if token in self.stop_ids or generation.cancelled.is_set():
            return self._finish(generation, "stop")
        generation.tokens.append(token)
        text = generation.chat.tokenizer.decode(generation.tokens, skip_special_tokens=True)
        if text.endswith("\ufffd") and len(generation.tokens) < generation.sampling.max_tokens:
            return None  # half a character: wait for the rest
        text = text.replace("\ufffd", "")
        hits = [text.find(word) for word in generation.sampling.stop if word in text]
        if hits:
            return self._finish(generation, "stop", text[: min(hits)])
        if len(generation.tokens) >= generation.sampling.max_tokens:
            return self._finish(generation, "length", text)
        held = max((len(word) - 1 for word in generation.sampling.stop), default=0)
        self._send(generation, text[: len(text) - held] if held else text)

    def _send(self, generation: Generation, text: str, finish_reason: str | None = None) -> None:
        if text.startswith(generation.sent) and (len(text) > len(generation.sent) or finish_reason):
            generation.emit(text[len(generation.sent):], finish_reason)
            generation.sent = text
        elif finish_reason:
            generation.emit("", finish_reason)

    def _finish(self, generation: Generation, reason: str, text: str | None = None) -> None:
        if text is None:
            text = generation.chat.tokenizer.decode(generation.tokens, skip_special_tokens=True).replace("\ufffd", "")
        generation.finish_reason = reason
        self._send(generation, text, reason)

    def end(self) -> None:
        """generate returned: rows still open ran out of new tokens (or their client left)."""
        for generation in self.batch:
            if generation.finish_reason is None:
                self._finish(generation, "length")
