"""Group relative policy optimisation (TRL's GRPOTrainer): for every prompt the model writes
`grpo_num_generations` answers, the chosen reward functions score them, and each answer is made more or
less likely by how it scored against its group's mean. No value model is trained; with a KL weight above
zero the base (the adapter switched off under PEFT) is the reference the policy is kept near.

Prompts come from conversation datasets (alpaca, sharegpt, messages): every turn but the last assistant
reply is the prompt, and that reply is the `reference` the reference_rouge and answer_match rewards read.
"""
from __future__ import annotations

from ..config import RunConfig
from ..data import load_conversations
from ..export import merged_model
from ..models import load_tokenizer
from ..paths import CONFIG_FILE, FINAL_DIR, inside, saves_dir
from ..rewards import reward_functions
from ..templates import load_template, render_messages
from ..training import RunContext, event_callback, finish, optimizers, prepare_model, split_dataset, training_arguments


def prompt_rows(config, template, tokenizer) -> tuple[list[dict], int]:
    """({"prompt": messages up to the last user turn, "reference": the dataset's reply} for every
    conversation, prompts dropped as too long). A prompt and its answer must fit in cutoff_len tokens: TRL
    does not truncate prompts, and a cut prompt would ask a different question."""
    budget = config.data.cutoff_len - config.method.grpo_max_new_tokens
    rows, too_long = [], 0
    for name in config.data.datasets:
        for messages in load_conversations(name, config.data.max_samples):
            prompt = render_messages(template, tokenizer, messages[:-1], add_generation_prompt=True)
            if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) > budget:
                too_long += 1
                continue
            rows.append({"prompt": messages[:-1], "reference": messages[-1]["content"]})
    if not rows:
        raise ValueError(
            f"every prompt is longer than data.cutoff_len − method.grpo_max_new_tokens ({budget} tokens); "
            "raise cutoff_len or lower grpo_max_new_tokens"
        )
    return rows, too_long


def reward_model(run_name: str):
    """(model, tokenizer) of a finished reward-model run: the score head on the base, adapter merged in."""
    run_dir = inside(saves_dir(), run_name, "method.grpo_reward_run")
    config = RunConfig.load(run_dir / CONFIG_FILE)
    tokenizer = load_tokenizer(config.model, location=str(run_dir / FINAL_DIR))  # carries the run's chat template
    return merged_model(run_dir).eval(), tokenizer


def run_grpo(context: RunContext) -> str:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    config, method = context.config, context.config.method
    tokenizer = load_tokenizer(config.model)
    template = load_template(config.model.template, tokenizer)
    tokenizer.chat_template = template.source
    rows, too_long = prompt_rows(config, template, tokenizer)
    train, validation = split_dataset(Dataset.from_list(rows), config)
    rewards = reward_functions(method.grpo_rewards, method.grpo_format_regex, method.grpo_max_new_tokens)
    reward_tokenizers = [None] * len(rewards)
    if "reward_model" in method.grpo_rewards:
        scorer, scorer_tokenizer = reward_model(method.grpo_reward_run)
        rewards.append(scorer)
        reward_tokenizers.append(scorer_tokenizer)
    model = prepare_model(context, len(train))
    callback = event_callback(context, model, train_examples=len(train), val_examples=len(validation or []),
                              data={"prompts_too_long": too_long})
    args = training_arguments(
        config, context.run_dir, validation is not None, args_class=GRPOConfig,
        num_generations=method.grpo_num_generations,
        max_completion_length=method.grpo_max_new_tokens,
        temperature=method.grpo_temperature,
        beta=method.grpo_kl_beta,
        include_num_input_tokens_seen="no",  # its batches hold prompts, not input_ids; it logs num_tokens itself
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        reward_processing_classes=reward_tokenizers,
        callbacks=[callback],
        optimizers=optimizers(model, config),
    )
    return finish(trainer, context)
