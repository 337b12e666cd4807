"""Packing: rows that hold several examples train each one exactly as if it were alone, and a packed run learns."""
import json

import pytest
import torch

from engine.train.packing import (
    IGNORE,
    TOKEN_COUNTS,
    PackedCollator,
    batch_padding,
    document_mask,
    pack_examples,
    pack_rows,
    packing_preview,
    position_ids,
)

# Packed vs alone differ only by float32 summation order: measured max |Δ logit| ~1e-6 on logits of size ~1-5.
TOLERANCE = 1e-4


def test_rows_hold_every_example_once_and_never_overflow():
    lengths = [300, 20, 180, 511, 90, 60, 250, 5, 400, 130]
    rows = pack_rows(lengths, 512)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 512 for row in rows)
    assert len(rows) == 4  # 1,946 tokens: the fewest rows of 512 that can hold them


def test_packing_preview_counts_the_padding_and_steps_packing_saves():
    preview = packing_preview([300, 20, 180, 511, 90, 60, 250, 5, 400, 130], 512, batch_size=4)
    assert sorted(i for row in preview["rows"] for i in row) == list(range(10)) and len(preview["rows"]) == 4
    assert preview["row_tokens"] == [sum([300, 20, 180, 511, 90, 60, 250, 5, 400, 130][i] for i in row)
                                     for row in preview["rows"]]
    assert batch_padding([300, 20, 180, 511, 90], 4) == (511 * 4 - 1011) + 0
    assert (preview["steps_unpacked"], preview["steps_packed"]) == (3, 1)
    assert preview["padding_packed"] < preview["padding_unpacked"]


def test_first_label_of_every_example_is_dropped_and_positions_restart():
    rows = pack_examples({"input_ids": [[1, 2, 3], [4, 5]], "labels": [[1, 2, 3], [IGNORE, 5]]}, 8)
    assert rows == [{"input_ids": [1, 2, 3, 4, 5], "labels": [IGNORE, 2, 3, IGNORE, 5], "lengths": [3, 2]}]
    assert position_ids([3, 2], 7) == [0, 1, 2, 0, 1, 0, 1]


def test_the_mask_confines_attention_to_each_example():
    allowed = document_mask([2, 1], 4)[0]
    assert allowed.tolist() == [[True, False, False, False], [True, True, False, False],
                                [False, False, True, False], [False, False, False, True]]
    additive = document_mask([2, 1], 4, torch.float32)[0]
    assert (additive == 0).equal(allowed) and additive.min() == torch.finfo(torch.float32).min


def _examples(tokenizer, count=6):
    """Encoded demo conversations of mixed lengths (what SFT trains on)."""
    from engine.config.schema import RunConfig
    from engine.train.stages.sft import build_sft_examples

    config = RunConfig()
    config.data.max_samples = count
    train, _, _ = build_sft_examples(config, tokenizer)
    return train.to_dict()


def _alone(model, ids, labels):
    """Logits and per-example mean loss of one example run by itself (no padding, no mask)."""
    out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
    return out.logits[0], out.loss


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_logits_and_loss_match_each_example_alone(tiny_model, tiny_tokenizer, attention):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attention, dtype=torch.float32)
    model.eval().config.use_cache = False
    examples = _examples(tiny_tokenizer)
    members = pack_rows([len(ids) for ids in examples["input_ids"]], 512)  # the rows pack_examples builds
    rows = pack_examples(examples, 512)
    assert any(len(row["lengths"]) > 1 for row in rows)  # the test means something only if rows are shared
    batch = PackedCollator(tiny_tokenizer.pad_token_id, attention, torch.float32)(rows)
    worst_logit = worst_loss = 0.0
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k not in ("labels", TOKEN_COUNTS)}).logits
        for r, indices in enumerate(members):
            start = 0
            for i in indices:
                ids, labels = examples["input_ids"][i], examples["labels"][i]
                logits, loss = _alone(model, ids, labels)
                piece = packed[r, start : start + len(ids)]
                # The example's loss from the packed batch: its own labels, shifted inside its own span.
                packed_loss = torch.nn.functional.cross_entropy(
                    piece[:-1], batch["labels"][r, start + 1 : start + len(ids)], ignore_index=IGNORE)
                worst_logit = max(worst_logit, (piece - logits).abs().max().item())
                worst_loss = max(worst_loss, abs(packed_loss.item() - loss.item()))
                start += len(ids)
    print(f"\n{attention}: max |logit packed - alone| = {worst_logit:.2e}, max |loss diff| = {worst_loss:.2e}")
    assert worst_logit < TOLERANCE and worst_loss < TOLERANCE


def _train_demo(tmp_path, packing: str):
    from engine.config.schema import RunConfig
    from engine.runs.events import EventLog, read_events
    from engine.train.stages.sft import build_sft_trainer
    from engine.train.trainer import RunContext

    config = RunConfig.load("examples/sft_lora_demo.yaml")
    config.data.val_size, config.data.max_samples = 0.0, 16
    config.train.max_steps, config.train.logging_steps, config.train.save_steps = 24, 1, 1000
    config.train.per_device_train_batch_size = 2
    config.speed.packing = packing
    trainer = build_sft_trainer(RunContext(config, tmp_path, EventLog(tmp_path), lambda: False))
    trainer.train()
    return trainer, read_events(tmp_path)


def test_a_packed_sft_run_learns_and_reports_real_tokens(tmp_path):
    trainer, events = _train_demo(tmp_path, "auto")
    start = next(e for e in events if e["event"] == "start")
    assert start["speed"][0].startswith("packing: on") and start["data"]["examples_per_row"] > 1
    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 1.0, losses
    logs = [e for e in events if e["event"] == "log"]
    assert all(e["real_tokens_per_s"] > 0 and 0 <= e["padding_share"] < 0.5 for e in logs[1:])
    # Counted as batches are trained on: whole epochs of rows' example tokens, never the mask's sum.
    epochs, tally = trainer.state.epoch, trainer.data_collator.tally
    assert epochs == int(epochs), "the test wants whole epochs"
    assert tally.real == epochs * sum(sum(row["lengths"]) for row in trainer.train_dataset) < tally.total
    assert json.dumps(start)  # the start event is plain JSON


def test_an_unpacked_run_counts_its_padding(tmp_path):
    _, events = _train_demo(tmp_path, "off")
    start = next(e for e in events if e["event"] == "start")
    assert start["speed"][0].startswith("packing: off") and "packed_rows" not in start["data"]
    logs = [e for e in events if e["event"] == "log"]
    assert logs[-1]["padding_share"] > 0 and logs[-1]["real_tokens_per_s"] > 0
    assert sum(e["loss"] for e in logs[-3:]) < sum(e["loss"] for e in logs[:3])


def test_automatic_packing_does_not_cut_a_small_datasets_updates_and_says_so(tmp_path):
    from engine.config.schema import RunConfig
    from engine.runs.events import EventLog, read_events
    from engine.train.stages.sft import build_sft_trainer
    from engine.train.trainer import RunContext

    config = RunConfig.load("examples/sft_lora_demo.yaml").replace({
        "data.val_size": 0.0, "data.max_samples": 16, "train.max_steps": 0, "train.num_train_epochs": 3,
        "train.per_device_train_batch_size": 4, "train.logging_steps": 1, "train.save_steps": 1000,
        "speed.packing": "auto"})
    trainer = build_sft_trainer(RunContext(config, tmp_path, EventLog(tmp_path), lambda: False))
    trainer.train()
    events = read_events(tmp_path)
    start = next(e for e in events if e["event"] == "start")
    notes = "\n".join(start["speed"])
    assert "packing (auto): off for this data" in notes and "instead of 4, fewer than 100 updates" in notes
    assert "packed_rows" not in start["data"]
    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert len(losses) == 12 and sum(losses[-3:]) < sum(losses[:3])  # 16 examples, 4 a step, 3 epochs
