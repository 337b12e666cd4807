"""Stop buttons for streamed work: each session keeps its own threading.Event in a gr.State.

Pressing Start first puts a fresh Event into the state, then streams with it; Stop sets the Event, and the
engine loop that checks it ends after its current batch or token, keeping what it has done. An Event (not
`cancels=`) lets the engine finish cleanly and write its files instead of being killed mid-write.
"""
from __future__ import annotations

import threading

import gradio as gr


def new_stop() -> threading.Event:
    return threading.Event()


def request_stop(stop: threading.Event | None) -> None:
    if stop is not None:
        stop.set()


def stoppable(trigger, handler, inputs: list, outputs: list, stop: gr.State):
    """Wire `trigger` (a listener such as button.click) to stream `handler(*inputs, stop)` into `outputs`
    with a fresh Event; returns the streaming event. Wire the Stop button once with `wire_stop`."""
    return trigger(new_stop, None, stop).then(handler, [*inputs, stop], outputs)


def wire_stop(stop_button: gr.Button, stop: gr.State) -> None:
    stop_button.click(request_stop, stop, None, queue=False)  # unqueued: answers while the stream runs
