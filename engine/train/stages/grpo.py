"""Group relative policy optimisation (TRL's GRPOTrainer): for every prompt the model writes
`grpo_num_generations` answers, the chosen reward functions score them, and each answer is made more or
less likely by how it scored against its group's mean. No value model is trained; with a KL weight above
zero the base (the adapter switched off under PEFT) is the reference the policy is kept near.

Prompts come from conversation datasets (alpaca, sharegpt, messages): every turn but the last assistant
reply is the prompt, and that reply is the `reference` the reference_rouge and answer_match rewards read.
"""
from __future__ import annotations

from engine.config.schema import RunConfig
from engine.data.conversion import load_conversations
from engine.models.loading import load_tokenizer, merged_model
from engine.paths import CONFIG_FILE, FINAL_DIR, inside, saves_dir
from engine.train.rewards import reward_functions
from engine.data.templates import load_template, render_messages
from engine.train.trainer import RunContext
from engine.train.stages.trl_trainer import run_tokenizer, train_with_trl


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
    from trl import GRPOConfig, GRPOTrainer

    config, method = context.config, context.config.method
    tokenizer = run_tokenizer(config)
    rows, too_long = prompt_rows(config, load_template(config.model.template, tokenizer), tokenizer)
    rewards = reward_functions(method.grpo_rewards, method.grpo_format_regex, method.grpo_max_new_tokens)
    reward_tokenizers = [None] * len(rewards)  # None: a function, it reads text
    if "reward_model" in method.grpo_rewards:
        scorer, scorer_tokenizer = reward_model(method.grpo_reward_run)
        rewards.append(scorer)
        reward_tokenizers.append(scorer_tokenizer)
    return train_with_trl(
        context, rows, GRPOTrainer, GRPOConfig,
        trainer_options={"reward_funcs": rewards, "reward_processing_classes": reward_tokenizers},
        data={"prompts_too_long": too_long},
        tokenizer=tokenizer,
        num_generations=method.grpo_num_generations,
        max_completion_length=method.grpo_max_new_tokens,
        temperature=method.grpo_temperature,
        beta=method.grpo_kl_beta,
        include_num_input_tokens_seen="no",  # its batches hold prompts, not input_ids; it logs num_tokens itself
    )
