"""The OpenAI endpoints of the transformers backend: /v1/models, /v1/chat/completions, /v1/completions.

Replies are built from the `openai` package's own types (ChatCompletion, ChatCompletionChunk, Completion,
Model), so their shape is the protocol's, not a copy of it. A request reads only the fields the studio honours
(model, messages or prompt, stream, temperature, top_p, max_tokens, stop, seed, tools, tool_choice); others are
ignored, as OpenAI-compatible servers do. Prompts are rendered by each model's own chat template (the run's), the
same as in the Chat tab, and tool calls in a reply come back parsed as `tool_calls`.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from openai.types import Completion, CompletionChoice, CompletionUsage, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel, ConfigDict, Field

from engine.data.templates import render_messages
from engine.messages import say
from engine.serve.batching import Generation, Sampling, Scheduler
from engine.serve.guard import APIError, Limits, error_body
from engine.use.chat import ChatModel, parse_tool_calls


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    stream: bool = False
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=1)  # one choice per request
    min_tokens: int = Field(0, ge=0)  # vLLM's extension (extra_body in the openai client)


class ChatRequest(_Request):
    messages: list[dict] = Field(min_length=1)
    tools: list[dict] | None = None
    tool_choice: str | dict | None = None
    stream_options: dict | None = None  # {"include_usage": true}: a last chunk carries the token counts


class CompletionRequest(_Request):
    prompt: str | list[str]


def build_app(chats: dict[str, ChatModel], limits: Limits) -> FastAPI:
    """The app serving `chats` ({model id: loaded model}); one Scheduler generates for all of them."""
    app = FastAPI(title="Finetune Studio", docs_url=None, redoc_url=None, openapi_url=None)
    scheduler = Scheduler()
    created = int(time.time())

    @app.exception_handler(APIError)
    async def api_error(_request, err: APIError):
        return JSONResponse(error_body(err.message, err.kind, err.code), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, err: RequestValidationError):
        where = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in err.errors())
        return JSONResponse(error_body(where, "invalid_request_error", "invalid_request"), status_code=400)

    @app.get("/v1/models")
    async def models():
        listed = [Model(id=name, created=created, object="model", owned_by="finetune-studio") for name in chats]
        return {"object": "list", "data": [model.model_dump(exclude_none=True) for model in listed]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request):
        chat = _chat(chats, body.model)
        tools = body.tools if body.tool_choice != "none" else None
        prompt = _render(chat, body.messages, tools)
        generation = _generation(chat, body, prompt, limits)
        scheduler.submit(generation)
        if body.stream:
            return _sse(_chat_chunks(generation, body, offered_tools=bool(tools)))
        return await _chat_completion(generation, body, offered_tools=bool(tools))

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        chat = _chat(chats, body.model)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if len(prompts) != 1:
            raise APIError(400, say("serve.one_prompt"), "invalid_request_error", "invalid_prompt")
        generation = _generation(chat, body, prompts[0], limits, add_special_tokens=True)
        scheduler.submit(generation)
        if body.stream:
            return _sse(_completion_chunks(generation, body))
        text, finish_reason = await _collect(generation)
        return _completion(generation, body, text, finish_reason).model_dump(exclude_none=True)

    return app


# ----------------------------------------------------------------------------------------------- requests

def _chat(chats: dict[str, ChatModel], name: str) -> ChatModel:
    if name not in chats:
        raise APIError(404, say("serve.unknown_model", model=name, models=", ".join(chats)),
                       "invalid_request_error", "model_not_found")
    return chats[name]


def _render(chat: ChatModel, messages: list[dict], tools: list | None) -> str:
    try:
        return render_messages(chat.template, chat.tokenizer, [_studio_message(m) for m in messages],
                               add_generation_prompt=True, tools=tools)
    except (ValueError, TypeError, KeyError) as err:
        raise APIError(400, str(err), "invalid_request_error", "invalid_messages") from None


def _studio_message(message: dict) -> dict:
    """An OpenAI message as the studio's templates read it: text content; tool call arguments as objects."""
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts: the text ones, joined
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    turn = {"role": message.get("role", "user"), "content": content}
    if calls := message.get("tool_calls"):
        turn["tool_calls"] = [{"type": "function", "function": {
            "name": call["function"]["name"], "arguments": _arguments(call["function"].get("arguments", {}))}}
            for call in calls]
    return turn


def _arguments(value):
    try:
        return json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        raise APIError(400, say("serve.bad_arguments", arguments=value[:200]), "invalid_request_error",
                       "invalid_tool_call") from None


def _generation(chat: ChatModel, body: _Request, prompt: str, limits: Limits,
                add_special_tokens: bool = False) -> Generation:
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    max_tokens = body.max_completion_tokens or body.max_tokens or limits.default_max_tokens
    sampling = Sampling(max_tokens, body.temperature, body.top_p, body.seed, tuple(word for word in stop if word),
                        min(body.min_tokens, max_tokens))
    prompt_ids = chat.tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]
    return Generation(chat, body.model, prompt_ids, sampling, asyncio.get_running_loop())


async def _collect(generation: Generation) -> tuple[str, str]:
    text, finish_reason = "", "stop"
    async for piece, reason in generation.pieces():
        text += piece
        finish_reason = reason or finish_reason
    return text, finish_reason


# ----------------------------------------------------------------------------------------------- replies

def _usage(generation: Generation) -> CompletionUsage:
    prompt, completion = len(generation.prompt_ids), len(generation.tokens)
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _message(text: str, offered_tools: bool) -> tuple[dict, str | None]:
    """The assistant message of `text`; with tools offered, its calls parsed out as tool_calls."""
    calls = parse_tool_calls(text) if offered_tools else []
    if not calls:
        return {"role": "assistant", "content": text}, None
    tool_calls = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                   "function": {"name": call["name"], "arguments": json.dumps(call["arguments"], ensure_ascii=False)}}
                  for call in calls]
    return {"role": "assistant", "content": None, "tool_calls": tool_calls}, "tool_calls"


async def _chat_completion(generation: Generation, body: ChatRequest, offered_tools: bool) -> dict:
    text, finish_reason = await _collect(generation)
    message, calls_reason = _message(text, offered_tools)
    reply = ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}", object="chat.completion", created=int(time.time()), model=body.model,
        choices=[{"index": 0, "message": message, "finish_reason": calls_reason or finish_reason}],
        usage=_usage(generation),
    )
    return reply.model_dump(exclude_none=True)


async def _chat_chunks(generation: Generation, body: ChatRequest, offered_tools: bool):
    """Server-sent chunks: the role, the text as it grows, the finish reason. With tools offered the reply is
    held back to its end: only whole text can tell a tool call from an answer."""
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict, finish_reason: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(id=reply_id, object="chat.completion.chunk", created=created, model=body.model,
                                   choices=[{"index": 0, "delta": delta, "finish_reason": finish_reason}])

    yield chunk({"role": "assistant", "content": ""})
    held = ""
    async for piece, finish_reason in generation.pieces():
        if offered_tools:
            held += piece
        elif piece:
            yield chunk({"content": piece})
        if finish_reason and offered_tools:
            message, calls_reason = _message(held, offered_tools)
            delta = ({"tool_calls": [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]}
                     if calls_reason else {"content": held})
            yield chunk(delta, calls_reason or finish_reason)
        elif finish_reason:
            yield chunk({}, finish_reason)
    if (body.stream_options or {}).get("include_usage"):
        yield ChatCompletionChunk(id=reply_id, object="chat.completion.chunk", created=created, model=body.model,
                                  choices=[], usage=_usage(generation))


def _completion(generation: Generation, body: CompletionRequest, text: str, finish_reason: str | None,
                usage: bool = True) -> Completion:
    return Completion(
        id=f"cmpl-{generation.loop.time():.0f}-{id(generation)}", object="text_completion", created=int(time.time()),
        model=body.model, choices=[CompletionChoice(index=0, text=text, finish_reason=finish_reason or "stop")],
        usage=_usage(generation) if usage else None,
    )


async def _completion_chunks(generation: Generation, body: CompletionRequest):
    async for piece, finish_reason in generation.pieces():
        if piece or finish_reason:
            completion = _completion(generation, body, piece, finish_reason, usage=False)
            if not finish_reason:  # a chunk in the middle has no finish reason yet
                completion.choices[0].finish_reason = None
            yield completion


def _sse(chunks) -> StreamingResponse:
    async def events():
        try:
            async for chunk in chunks:
                yield f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"
            yield "data: [DONE]\n\n"
        except APIError as err:
            yield f"data: {json.dumps(error_body(err.message, err.kind, err.code))}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
