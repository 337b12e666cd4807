"""The quick demo visibly learns: after its training, chat answers a trained question with its trained answer.

The preset as it ships (examples/quick_demo.yaml), cut to the first two questions of demo_quick (one English,
one Chinese) so that it runs in a couple of minutes; bench/quick_demo.py measures the whole preset.
"""
from conftest import PROJECT


def greedy_reply(chat, question: str) -> str:
    from engine.use.chat import stream_reply

    reply = ""
    for reply in stream_reply(chat, [{"role": "user", "content": question}], max_new_tokens=120, temperature=0):
        pass
    return reply


def test_the_quick_demo_answers_its_questions_with_the_trained_answers(studio_dirs, tiny_model):
    from engine.config.schema import RunConfig
    from engine.runs.events import EventLog, read_events
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training
    from engine.use.chat import load_base_for_chat, load_run_for_chat
    from engine.use.predict import prediction_tasks

    config = RunConfig.load(PROJECT / "examples" / "quick_demo.yaml")
    config.data.max_samples = 2
    tasks = prediction_tasks(config.data.datasets, config.data.max_samples)
    assert [task["prompt"] for task in tasks] == ["How do I start Finetune Studio?", "怎么启动 Finetune Studio？"]
    base = load_base_for_chat(config.model)
    assert all(greedy_reply(base, task["prompt"]) != task["label"] for task in tasks)  # nothing learnt yet
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    losses = [e["loss"] for e in read_events(run_dir) if e["event"] == "log"]
    assert losses[-1] < losses[0] / 10
    trained = load_run_for_chat(run_dir)
    for task in tasks:
        assert greedy_reply(trained, task["prompt"]) == task["label"]
