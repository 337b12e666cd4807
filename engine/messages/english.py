"""The English catalog of what the studio says, grouped by the part of the engine that speaks: code -> template.
Codes are stable: the UI's translations (webui/messages_zh.py) are keyed by them. What it says about datasets is
in engine/messages/english_data.py; ENGLISH holds both. Add new codes at the end of their group.
"""
from __future__ import annotations

from engine.messages.english_data import DATA_ENGLISH

ENGLISH: dict[str, str] = {
    **DATA_ENGLISH,
    # -- distributed: several processes and machines (engine/config/schema.py, engine/runs/launch.py) --
    "distributed.node_rank_out_of_range":
        "distributed.node_rank ({node_rank}) must be below distributed.nodes ({nodes}): nodes count from 0",
    "distributed.no_master_address":
        "distributed.master_address is empty; training on several machines needs the address of node 0",
    "distributed.offload_parameters_needs_sharding":
        "distributed.offload_parameters needs weights that are sharded: pick strategy zero3 or fsdp "
        "(got {strategy})",
    "distributed.offload_optimizer_needs_zero":
        "distributed.offload_optimizer is DeepSpeed's: pick strategy zero2 or zero3 (got {strategy}); FSDP "
        "offloads the optimizer together with the parameters (offload_parameters)",
    "distributed.quantized_sharding":
        "model.quantization {quantization} cannot be combined with distributed.strategy {strategy} here: the "
        "quantised weights cannot be sharded. Use ddp or zero2 with QLoRA, or set quantization to none",
    "distributed.too_many_for_gpus":
        "{processes} processes per node asked, {gpus} GPUs visible: set distributed.processes_per_node to "
        "{gpus} or fewer (0 = one per GPU)",
    "distributed.too_many_for_cpus":
        "{processes} processes asked on a machine without a GPU and with {cores} CPU cores: with gloo each "
        "process needs a core of its own; set distributed.processes_per_node to {cores} or fewer",
    "distributed.deepspeed_missing":
        "distributed.strategy {strategy} uses DeepSpeed, which is not installed: pip install deepspeed "
        "(on a machine with CUDA), or pick ddp or fsdp",
    "distributed.deepspeed_needs_gpu":
        "distributed.strategy {strategy} uses DeepSpeed, which trains on GPUs only and this machine has none: "
        "pick ddp to train in several processes on the CPU",
    "distributed.fsdp_needs_gpu":
        "distributed.strategy fsdp needs a GPU: the Trainer's accelerate turns FSDP on only for GPUs and other "
        "accelerators, so on this machine without one the run would quietly be plain DDP; pick ddp",
    "distributed.rank_failed":
        "rank {rank} of {world_size} failed, so the run was stopped on every rank: {error}",
    "distributed.rank_failed_advice":
        "One training process failed and the others were ended with it. Its error is above and its output in "
        "train.log (lines from that rank). Fix the cause, then Resume continues from the last checkpoint.",
    "distributed.rank_killed":
        "it was killed by {signal} (by a person, a crash, or the system when memory ran out)",
    "distributed.rank_killed_advice":
        "One training process was killed and the others were ended with it. If memory ran out, lower the batch "
        "size or cutoff, or shard the model (zero3 or fsdp). Resume continues from the last checkpoint.",
    "data.holds.mllm": "conversations with images",
    "data.kind.vision": "conversations with images",
    "data.vision_needs_vision_model": "{dataset} holds images, which {model} cannot read; pick a vision model "
                                      "such as builtin:tiny-vlm",
    # chat with images (engine/use/chat.py)
    "chat.images_need_vision_model": "{model} reads text only; pick a vision model (e.g. builtin:tiny-vlm) or a "
                                     "run trained on one to chat about images",
    "export.gguf_vision": "GGUF export writes the language model only; a vision model's image encoder would be "
                          "lost, so export it without GGUF",

    # engine/config, engine/train: experiments (early stopping, trackers)
    "config.best_needs_validation": (
        "eval.early_stopping_patience and eval.load_best_model_at_end judge checkpoints by the validation loss; "
        "set data.val_size above 0 to hold out examples for it"
    ),
    "train.early_stop": "early stop at step {step}, best step {best}",
    "train.tracker_missing": (
        "train.report_to names {tracker}, which is not installed: pip install {tracker}, or take it off the list"
    ),
    # names a user gives (engine/paths.py is_plain_name)
    "names.run_name_unusable": "train.run_name may use letters (any language), digits, '-', '_' and '.', starting "
                               "with a letter or digit, at most 100 characters; {name!r} is not usable as a run name",
    "names.dataset_name_unusable": "the dataset name {name!r} is not usable (the file is fine): use letters (any "
                                   "language), digits, '_', '-' or '.', starting with a letter or digit, at most "
                                   "100 characters",
    # hardening: training that diverged, weights that are not finite, damaged run files
    "train.not_finite": (
        "{quantity} became {value} at step {step}: training stopped there and no final model was written. Lower the learning rate (train.learning_rate), keep gradient clipping on (train.max_grad_norm), check data.cutoff_len and that the data has no empty answers; Resume continues from the last good checkpoint."
    ),
    "train.weights_not_finite": (
        "{count} of the trained weights are NaN or infinite, so they were not saved as the final model. Lower the learning rate (train.learning_rate) and train again."
    ),
    "use.weights_not_finite": (
        "{path} holds {count} NaN or infinite weights: it was trained into a broken state and cannot be used or exported. Train again with a lower learning rate."
    ),
    "runs.damaged": (
        "the files of run {run} hold something the training process never wrote ({detail}); its state cannot be trusted. Delete the run, or Resume to train it again from its last checkpoint."
    ),
    "train.nothing_fits": (
        "nothing left to train on: all {count} {what} of this {stage} run are longer than data.cutoff_len={cutoff_len} tokens (shortest: {shortest}); raise data.cutoff_len to at least {shortest}, or use shorter examples"
    ),
    "train.rows_dropped": (
        "{dropped} of {total} examples are longer than data.cutoff_len={cutoff_len} tokens and were left out"
    ),
    "train.unit.pairs": "pairs",
    "train.unit.prompts": "prompts",
    "data.preview_cut": "{text}… ({more} more characters)",
    # engine/config/schema.py validate(), engine/train/rules.py: a config that cannot train
    "config.not_a_choice": "{field} must be one of {choices}; got {value}",
    "config.below_minimum": "{field} must be ≥ {bound}; got {value}",
    "config.above_maximum": "{field} must be ≤ {bound}; got {value}",
    "config.not_above": "{field} must be > {bound}; got {value}",
    "config.no_datasets": "data.datasets is empty; pick at least one dataset to train on",
    "config.no_model": "model.name_or_path is empty; pick the built-in demo model, a Hub id or a local folder",
    "config.quantized_full": "model.quantization {quantization} trains only adapters; quantised weights cannot be "
                             "trained with method.finetuning_type {finetuning_type}: pick lora (QLoRA) or set "
                             "quantization to none",
    "config.pissa_quantized": "method.pissa_init works on unquantised weights only; turn it off or set quantization "
                              "to none",
    "config.needs_head": "method.stage {stage} needs a method that trains the scoring head: pick one of {methods}",
    # engine/runs/preflight.py: what this machine lacks for a run
    "preflight.disk_full": "the saves folder's disk has {free} free, and this run needs about {needed} for its "
                           "checkpoints (up to {checkpoints}) and final model. Free some space, keep fewer checkpoints "
                           "(train.save_total_limit), or train LoRA, which saves far less.",
    "preflight.no_bitsandbytes": "model.quantization needs the bitsandbytes package, which is not installed: pip "
                                 "install bitsandbytes, or set quantization to none",
    # speed: packing, attention, kernels (engine/train/speed.py, engine/train/rules.py)
    "speed.packing_on": "packing: on, rows of {length} tokens (several examples per row, each attending only to itself)",
    "speed.packing_off": "packing: off (turned off; each example is padded to the longest in its batch)",
    "speed.packing_stage": "packing: off ({stage} forms its own batches)",
    "speed.attention_chosen": "attention: {name} (chosen)",
    "speed.attention_no_gpu": "attention: sdpa (no GPU; FlashAttention needs one)",
    "speed.attention_no_flash": "attention: sdpa (flash-attn not installed)",
    "speed.attention_float32": 'attention: sdpa (FlashAttention computes in 16-bit only; the model dtype is float32)',
    "speed.attention_flash": "attention: flash_attention_2 (GPU and flash-attn found; packed rows use its varlen kernel)",
    "speed.liger_off": "Liger: off (turned off)",
    "speed.liger_stage": "Liger: off (used for sft and pt; {stage} has its own loss)",
    "speed.liger_missing": "Liger: not installed (pip install liger-kernel on a CUDA machine)",
    "speed.liger_no_gpu": "Liger: off (its kernels need a GPU)",
    "speed.liger_on": "Liger: on (fused RMSNorm, RoPE, SwiGLU and cross-entropy)",
    "speed.compile_on": "torch.compile: on (the first steps are slow while it compiles)",
    "speed.compile_off": "torch.compile: off",
    "speed.checkpointing_on": "gradient checkpointing: on (less memory, about a third slower)",
    "speed.checkpointing_off": "gradient checkpointing: off",
    "speed.problem_packing_stage": "speed.packing on works for sft only; {stage} forms its own batches: set packing to auto or off",
    "speed.problem_pack_length": "speed.pack_length ({length}) is shorter than data.cutoff_len ({cutoff}): an example must fit in one row; set 0 (= the cutoff) or at least {cutoff}",
    "speed.attention_fallback": "attention: sdpa (flash_attention_2 was asked for, but it needs a CUDA GPU and the flash-attn package)",
    "speed.liger_unavailable": "Liger: off (asked for, but it needs a CUDA GPU and the liger-kernel package)",
    "data.media_unsupported": (
        "dataset {dataset} declares {columns} columns; the studio cannot train on video or audio yet, and would "
        "silently drop them, so this dataset is refused (images: use a vision model with the mllm format)"
    ),
    # engine/config/llamafactory.py: reading a LLaMA-Factory YAML
    "lf.mapped": "{key} → {field} = {value}",
    "lf.defaults": "left out, so LLaMA-Factory's defaults apply: {keys}",
    "lf.automatic": "handled by the studio itself (nothing to set): {keys}",
    "lf.ignored": "{key}: no equivalent in the studio yet; ignored",
    "lf.stage_unknown": "stage {stage} has no equivalent in the studio; pick one of {stages} (GRPO replaces PPO)",
    "lf.pref_loss_unknown": "pref_loss {loss} has no equivalent in the studio; pick one of {losses}",
    "lf.template_auto": "template {name} → model.template = auto (the model's own chat template)",
    "lf.template_unknown": (
        "template {name} is not a studio template and the model ships no chat template of its own; "
        "close names: {close} (all: {all})"
    ),
    "lf.merge_without_adapter": (
        "this merge YAML names no adapter_name_or_path; set it to the output_dir of the training run to merge"
    ),
    "lf.merge_mapped": "{key}: {value}",
    "lf.merge_run_missing": (
        "adapter_name_or_path {adapter} is not a studio run: train the LLaMA-Factory YAML here first (its "
        "output_dir names the run), or give the run folder under {saves}"
    ),
    "lf.converted": "LLaMA-Factory YAML {source} converted; the studio config is saved as {target}",
    "lf.merge_converted": "LLaMA-Factory merge YAML {source}: the same as  {command}",
    # engine/runs/preflight.py: what a config names, checked at Start
    "preflight.no_own_template": (
        "model.template is auto, but {model} ships no chat template of its own; pick one of: {names}"
    ),
    "preflight.lora_target": (
        "method.lora_target names modules this model does not have: {missing}; its linear modules are {names} "
        "(or use all-linear)"
    ),
    "preflight.template_unknown": "model.template {name} is not a studio template; close names: {close} (all: {all})",
    "preflight.data_rows": "dataset {dataset} has {count} problem rows, e.g. {first}",
    "speed.packing_virtual_tokens": "packing: off, {method} adds virtual tokens that need one example per row",
    # engine/runs/notes.py, store.py, scheduler.py: notes, tags, archiving and deleting runs
    "runs.note_too_long": "the note is {length} characters long; keep it within {limit}",
    "runs.tag_too_long": "the tag “{tag}” is longer than {limit} characters; shorten it",
    "runs.too_many_tags": "{count} tags given; a run keeps at most {limit}",
    "runs.name_unknown": "no run is named {name}; give its folder (`python -m engine runs --all` lists every run)",
    "runs.name_not_unique": "several runs are named {name}: {folders}; give the folder of the one you mean",
    "runs.delete_not_run_folder": "{folder} is not a run folder of {saves} (saves/<model>/<method>/<run>); "
                                  "nothing was deleted",
    "runs.delete_queued": "run {run} is waiting in the queue: cancel it first (Stop), then delete it",
    "runs.delete_training": "run {run} is training: stop it and wait until it has ended, then delete it",
    "runs.delete_confirm": "delete run {run} and all its files ({size}) in {folder}? This cannot be undone. [y/N] ",
    "runs.delete_needs_yes": "deleting a run asks for confirmation: run the command in a terminal, or add --yes",
    "runs.deleted": "deleted run {run} ({size} freed)",
    "runs.delete_kept": "nothing was deleted",
    "runs.archived": "run {run} archived: hidden from the run list (`python -m engine runs --all` shows it), "
                     "its files kept",
    "runs.unarchived": "run {run} is back in the run list",
    "runs.note_saved": "run {run}: note saved",
    "runs.tags_saved": "run {run}: tags {tags}",
    "runs.none_match": "no run matches; archived runs are listed with --all",
    "speed.label_logits_on": (
        "output head: only at trained tokens (prompt logits are never computed; models that rescale their logits "
        "and vision models keep the full head)"
    ),
    "speed.label_logits_liger": "output head: Liger's fused cross-entropy (it never holds the full logits)",
    "speed.label_logits_stage": "output head: every token ({stage} has its own loss)",
    # launch.py: where the login comes from
    "launch.auth_twice": "give the login once: --auth or --auth-file, not both",
    "launch.auth_file_unreadable": "--auth-file {path} cannot be read: {error}",
    "launch.auth_file_lines": (
        "--auth-file {path} must hold exactly one line user:password (lines starting with # are comments); "
        "it holds {count}"
    ),
    # engine/models/loading.py: weights that pickle would read
    "model.pickle_only": (
        "{name} has its weights only as pickle files ({files}), which can run code when loaded, so they are not "
        "read by default. Convert the model to safetensors, or tick 'allow pickle weights' "
        "(model.allow_pickle_weights) if you trust where it came from."
    ),
    "model.pickle_only_beside": "{refusal} ({others} beside them are not the model's weights: those are {weights}.)",
    # issue 16: hub entries and dataset_dir (engine/data/registry.py, engine/data/hub.py), v1 rows, placeholders
    # (engine/data/placeholders.py), the LlamaBoard conveniences (engine/train/extra_args.py, engine/models/methods.py)
    "data.dataset_dir_missing": (
        "data.dataset_dir {folder} holds no {file}; point it at a folder with LLaMA-Factory's dataset_info.json "
        "(its data/ folder)"
    ),
    "data.no_source": "dataset {dataset} names none of {sources}; add file_name (a file or folder beside the registry)",
    "data.not_a_file": "dataset {dataset} is loaded from {source}, not from a file; this needs a file_name entry",
    "data.hub_unreachable": (
        "dataset {dataset} loads {id} ({key}) from {hub}, which cannot be reached from here (offline) and has no "
        "cached copy; load it once where there is network (it is then cached), or download it and register the "
        "file with file_name"
    ),
    "data.hub_not_found": "dataset {dataset}: {key} {id} was not found ({hub}): {error}",
    "data.hub_failed": "dataset {dataset}: loading {key} {id} failed: {error}",
    "data.hub_package": "dataset {dataset} loads from {key}, which needs the {package} package: pip install {package}",
    "rules.pair_conversations_differ": (
        "chosen and rejected are whole conversations that differ before their last message (or do not end with an "
        "assistant reply); a preference pair shares its prompt and differs only in the answer"
    ),
    "check.placeholders": (
        "{rows} rows hold the placeholders {names}: they would be trained as literal text; fill them in first "
        "(Data tab: Fill placeholders, or python -m engine data fill)"
    ),
    "check.note_line": "  note: {note}",
    "placeholders.none": "dataset {dataset} holds no {{{{...}}}} placeholders",
    "placeholders.missing_value": "give a value for every placeholder: {names}",
    "placeholders.saved": "saved {rows} rows as {name} with {values} filled in",
    "extra_args.not_mapping": (
        "train.extra_args must be a JSON or YAML mapping of TrainingArguments options, e.g. {{\"optim\": "
        "\"adafactor\"}}; got {value}"
    ),
    "extra_args.unknown": "train.extra_args: {key} is not a TrainingArguments option; close names: {close}",
    "extra_args.owned": "train.extra_args: {key} is set by the studio from {field}; set that instead",
    "extra_args.studio_only": "train.extra_args: {key} is set by the studio itself and cannot be changed here",
    "extra_args.bad_value": "train.extra_args: TrainingArguments refuses these options: {error}",
    "adapter.needs_lora": "method.adapter_run continues a LoRA adapter: set method.finetuning_type to lora",
    "adapter.missing": (
        "method.adapter_run {run} is not a finished LoRA run under {saves} (it needs {final}/adapter_config.json)"
    ),
    "adapter.other_base": "method.adapter_run {run} was trained on {base}, not on {model}; continue it on its own base",
    "lf.adapter_run": "adapter_name_or_path {adapter} → method.adapter_run = {run}",
    # vision-language: packing, archive uploads, previews
    "speed.packing_vision": "packing: off, a vision model keeps one conversation per row with its own pictures",
    "archive.unreadable": "{archive} could not be read as a zip archive ({error})",
    "archive.too_many_entries": "the archive holds {count} entries; at most {limit} are unpacked — split it into several uploads",
    "archive.duplicate": "entry {entry} appears twice in the archive; keep one",
    "archive.ratio": "entry {entry} would inflate {ratio} times (at most {limit}); this looks like a zip bomb and is refused",
    "archive.too_big": "the archive unpacks to more than {limit} MB (reached at entry {entry}); split it into smaller uploads",
    "archive.escapes": "entry {entry} would be written outside the dataset's folder (an absolute path or ..); refused",
    "archive.not_a_file": "entry {entry} is a link or special file, not a plain file; refused",
    "archive.size_lies": "entry {entry} holds more data than the {size} bytes its header claims; refused",
    "archive.no_dataset": "the archive holds no dataset file: add one .json or .jsonl file of conversations next to the images",
    "archive.several_datasets": "the archive holds several dataset files ({names}); keep exactly one .json or .jsonl file",
    # several messages shown as one, a line each (lines())
    "lines.one": "{line}",
    "lines.more": "{first}\n{rest}",
    # engine/runs/failures.py: why a run failed, and what to do (shown under "failed" in the run view)
    "failure.out_of_memory": "ran out of memory: {error}",
    "failure.disk_full": "the disk is full: {error}",
    "failure.disk_full_unnamed": "the disk is full ({error})",
    "failure.not_writable": "cannot write {file}: {error}",
    "failure.its_folder": "its folder",
    "failure.config_problems": "the config has problems:\n{problems}",
    "failure.problem_line": "- {problem}",
    "failure.advice.out_of_memory": (
        "The model and one training batch did not fit in memory. Try these, one at a time: lower the batch size "
        "(train.per_device_train_batch_size) and raise gradient accumulation to keep the same effective batch; "
        "lower the cutoff length (data.cutoff_len); turn on gradient checkpointing "
        "(train.gradient_checkpointing); train LoRA instead of the full model; load the model in 4-bit (QLoRA) "
        "if your GPU supports it; or pick a smaller model. Resume continues from the last checkpoint."
    ),
    "failure.advice.disk_full": (
        "The disk holding the saves folder is full, so a checkpoint or log could not be written. Free some "
        "space (delete old runs or exports), keep fewer checkpoints (train.save_total_limit), or move the saves "
        "folder to a bigger disk; then Resume continues from the last complete checkpoint."
    ),
    "failure.advice.not_writable": (
        "The run could not write into its folder. Check that the saves folder exists, is a folder, and that "
        "the user running the studio may write there (or point STUDIO_SAVES_DIR elsewhere)."
    ),
    "failure.advice.data": (
        "The training data cannot be used as it is. Open the Data tab (or run python -m engine data check NAME) "
        "to see every problem row; fix the file, pick a dataset of the kind the stage needs, or change the stage. "
        "Nothing was trained, so Start again once the data is fixed."
    ),
    "failure.advice.killed": (
        "The training process ended without a word: something killed it (a person, a crash, or the system "
        "when it ran out of memory). Resume continues from the last checkpoint."
    ),
    "preflight.saves_is_file": "the saves folder {folder} is a file, not a folder; move it away or point "
                               "STUDIO_SAVES_DIR at a folder",
    "preflight.saves_not_writable": "cannot write to the saves folder {folder}: {error}; {advice}",
    # engine/export/merge.py: why a run cannot be exported so
    "export.no_adapter": "run {run} has no LoRA adapter (it is not a finished LoRA run); export the full model",
    "export.folder_exists": "export folder {name!r} already exists in {folder}; choose another name",
    "export.unknown_gguf": "unknown GGUF type {kinds}; choose from {choices}",
    "export.gguf_reward_model": "a reward model scores text and cannot chat: GGUF is for chat models; export it "
                                "without GGUF",
    "export.gguf_needs_merged": "GGUF files are made from the merged model; untick 'adapter only' to export GGUF",
    "lf.dataset_dir_remote": "dataset_dir {value} reads dataset_info.json from the Hugging Face Hub, which the studio does not reach; download that folder and give its local path as dataset_dir",
    "lf.dataset_dir_absent": "dataset_dir left out: LLaMA-Factory would look in {folder}, which has no dataset_info.json, so datasets are looked up in your workspace registry only (set dataset_dir to LLaMA-Factory's data folder to use its datasets)",
    "lf.packing_default": "packing left out → speed.packing = off: LLaMA-Factory packs only when asked, so the run takes as many optimizer steps per epoch as it would there",
    "lf.deepspeed_unknown": "deepspeed {value}: the ZeRO stage cannot be told from the file name (LLaMA-Factory's are ds_z0/z2/z3[_offload]_config.json); set Distributed › Strategy yourself",
    "lf.kto_batch": "stage kto with per_device_train_batch_size 1 → 2 and gradient_accumulation_steps → {accumulation}: TRL's KTO compares each answer with another one of its batch, so one per step cannot train; the examples per update stay about the same",
    "lf.merge_gptq": "export_quantization_bit {bits}: GPTQ quantisation needs a GPU and the optimum and gptqmodel packages, which the studio does not use; remove the export_quantization_* keys to export the merged model (python -m engine export RUN --gguf q4_k_m writes a 4-bit file for llama.cpp)",
    "lf.merge_run_ambiguous": "{adapter} matches several runs ({runs}); give the run folder itself",
    "lf.converted_refused": "the converted config has values the studio cannot train with; change them in the YAML:",
    "lf.kind_chat": "{source} is an inference YAML (a model and a template, no stage): chat with it by  python -m engine chat {source}",
    "lf.kind_predict": "{source} predicts (do_predict without do_train): run it by  python -m engine eval {source} --generate",
    "lf.kind_preprocess": "{source} only tokenises its data (do_train: false): the studio encodes a dataset when its run starts and keeps it cached; set do_train: true to train",
    "lf.kind_merge_eval": "{source} is a merge YAML: export it by  python -m engine export {source}",
    "lf.export_not_merge": "{source} is not a merge YAML (it has a stage, or no export_dir): train it by  python -m engine train {source}, then export the run",
    "lf.eval_task": "task {task} in {source}: LLaMA-Factory's own MMLU/C-Eval runner is replaced here by lm-evaluation-harness: python -m engine bench RUN --tasks mmlu (the task's data must be cached on this machine)",
    "lf.pointer_webui": "The studio is the web UI: python launch.py, then open the address it prints (http://127.0.0.1:7860)",
    "lf.pointer_webchat": "Chat is a tab of the studio: python launch.py, then the Chat tab; in a terminal: python -m engine chat RUN_DIR",
    "lf.pointer_api": "An OpenAI-compatible server of a run: python -m engine serve RUN_DIR (the README's 'Use your model from code')",
    "cli.override_unknown": "{key} is neither a studio field (section.field, e.g. train.learning_rate) nor a LLaMA-Factory key the studio maps",
    "stage.kto_batch": "KTO compares each answer with another one of its batch: set Batch size (train.per_device_train_batch_size) to 2 or more; lower Gradient accumulation to keep the examples per update",
    "lf.warmup_steps": "warmup_steps {steps}: the studio warms up for a share of the steps (train.warmup_ratio), and without max_steps the number of steps depends on the data; set Warmup ratio (train.warmup_ratio) instead",
    "speed.packing_auto_kept": "packing (auto): on, {packed} optimizer steps per epoch ({unpacked} without packing)",
    "speed.packing_auto_off": "packing (auto): off for this data: packed, an epoch would be {packed} optimizer steps instead of {unpacked}, fewer than {minimum} updates in all; one example a row keeps the schedule you set (set Packing to on to pack anyway)",
    # -- benchmarks: lm-evaluation-harness and judges (engine/benchmarks/) --
    "bench.no_tasks": "choose at least one benchmark task",
    "bench.unknown_task": "{task} is not a task lm-evaluation-harness knows; use its task name (e.g. mmlu, "
                          "ceval-valid, gsm8k) or local:<registered dataset>",
    "bench.not_cached": "{title} needs its data from the Hub; it is not cached on this machine ({task} reads "
                        "{dataset}). Connect to the internet once to download it, or pick another task",
    "bench.no_result": "run {run} has no trained result yet (final/ is missing): benchmark it once it has finished",
    "bench.local_empty": "dataset {dataset} has no rows to ask; add questions to it first",
    "bench.local_bad_choices": "dataset {dataset}, row {row}: choices must be a list of at least two answers that "
                               "holds the row's answer; fix the row or remove its choices (short answer)",
    "judge.unknown_mode": "judge mode {mode} is unknown; choose one of {modes}",
    "judge.prompt_placeholders": "the judge prompt lacks {missing}: put each back where the question and the "
                                 "replies belong",
    "judge.bounds": "rows to judge and max tokens per judge reply must be at least 1",
    "judge.no_endpoint": "no judge endpoint: give the base URL of an OpenAI-compatible server (e.g. "
                         "http://127.0.0.1:8000/v1)",
    "judge.cost": "{rows} rows, {calls} calls to the judge: about {prompt_tokens} prompt tokens and at most "
                  "{max_reply_tokens} reply tokens",
    "judge.result": "{judge} judged {rows} rows: {won}; {no_verdict} rows without a verdict",
    "judge.no_judged": "no verdict at all",
    # engine/config/parsing.py: the one bounded YAML reader
    "yaml.too_long": "the YAML text is {chars} characters long; a config has at most {limit}",
    "yaml.invalid": "the text is not valid YAML: {error}",
    "yaml.aliases": "the YAML uses aliases (*name); write each value out instead",
    "yaml.too_deep": "the YAML nests deeper than {depth} levels; a config holds sections of fields",
    "yaml.not_sections": "the config must be a mapping of sections ({sections})",
    # engine/train/extra_args.py: the allow-list of extra TrainingArguments options
    "extra_args.outside": "train.extra_args: {key} would reach outside this run (the Hub, or a file named by path) "
                          "and cannot be set here; remove it",
    "extra_args.not_offered": "train.extra_args: {key} cannot be set here; the options offered are: {allowed}",
    "extra_args.bad_option": "train.extra_args: {key} must be {rule}; got {value}",
    "extra_args.rule.yes_no": "true or false",
    "extra_args.rule.whole": "a whole number from {low} to {high}",
    "extra_args.rule.number": "a number from {low} to {high}",
    "extra_args.rule.text": "a text of at most 200 characters",
    "extra_args.rule.numbers": "a mapping of at most 8 names to numbers",
    # engine/export/gguf.py: llama.cpp's converter and quantizer
    "export.gguf_no_converter": "GGUF export needs llama.cpp's converter (convert_hf_to_gguf.py with its conversion/ "
                                "and gguf-py/ folders) in {folder}: extract them there from the llama-cpp-python "
                                "0.3.36 source package (.ci/run does), or set STUDIO_LLAMA_CPP to a llama.cpp "
                                "checkout; or export without GGUF",
    "export.gguf_unsupported": "llama.cpp's converter cannot write {architecture} models as GGUF, so nothing was "
                               "merged; export without GGUF (the merged model runs in transformers), or train a "
                               "model family llama.cpp supports (Llama, Qwen, Gemma, Mistral, Phi, ...)",
    "export.gguf_no_quantizer": "the GGUF types {kinds} are made by llama.cpp's quantizer, which comes with "
                                "llama-cpp-python: install it (see the README, GGUF), or choose f16 or bf16",
    "export.gguf_convert_failed": "llama.cpp's converter could not write the {outtype} file; its last words:\n{tail}",
    "export.gguf_quantize_failed": "llama.cpp's quantizer could not make the {kind} file (its messages are in the "
                                   "studio's console output)",
    "export.gguf_failed": "the merged model is saved in {folder}, but not as GGUF: {error}. Use the merged model as "
                          "it is, or convert it with llama.cpp's convert_hf_to_gguf.py yourself",
    "export.gguf_vocabulary": "llama.cpp's converter cannot write this model's tokenizer as GGUF, so nothing was "
                              "merged (a tokenizer llama.cpp does not know, like the built-in demo model's made-up "
                              "one, is refused); export without GGUF. The converter's last words:\n{tail}",
    "serve.mixed_targets": "serve either run folders or one model, not both: {names} is not a run folder (a run folder "
                           "holds config.yaml)",
    "serve.run_unfinished": "run {run} has no trained result yet (final/ is missing): wait until it has finished, "
                            "or serve another run",
    "serve.same_run_names": "two of the runs have the same folder name, which would be one model id: serve runs with "
                            "different names",
    "serve.one_model": "serve one export, GGUF file or model at a time (several targets must all be LoRA run folders "
                       "of one base)",
    "serve.no_such_file": "{path} does not exist: give the path of a .gguf file (the Export tab writes them)",
    "serve.one_prompt": "send one prompt per request (a string, or a list of one)",
    "serve.unknown_model": "no model {model!r} is served here; send one of: {models} (GET /v1/models lists them)",
    "serve.bad_arguments": "a tool call's arguments must be JSON text; got {arguments}",
    "serve.key_file_unreadable": "--api-key-file {path} cannot be read: {error}",
    "serve.key_file_lines": "--api-key-file {path} must hold the key alone, on one line",
    "serve.key_required": "serving on {host} lets other machines in: give an API key with --api-key-file FILE or the "
                          "{variable} variable, or serve on 127.0.0.1",
    "serve.wrong_key": "missing or wrong API key: send it as 'Authorization: Bearer KEY' (the openai client's api_key)",
    "serve.too_large": "the request is larger than {limit} bytes: send a shorter conversation",
    "serve.not_json": "the request body is not JSON: {error}",
    "serve.max_tokens": "max_tokens is over this server's limit of {limit}: ask for fewer (or start the server with "
                        "a larger --max-tokens)",
    "serve.busy": "{limit} requests are being answered already: try again in a moment",
    "serve.adapters_only": "several runs share one base only as LoRA adapters: serve a full fine-tuned run on its own",
    "serve.backend_cannot": "the {backend} backend cannot serve a {kind} target: choose --backend auto",
    "serve.backend_missing": "the {backend} backend is not installed here: install it (llama.cpp: pip install "
                             "'llama-cpp-python[server]') or choose --backend auto",
    "serve.ready": "serving {models} on {url}",
    # a value of the wrong type, named by its field (the UI shows the field's label)
    "config.wrong_type": "{field} must be {kind}; got {value}",
    "config.kind.list": "a list of names",
    "config.kind.bool": "true or false",
    "config.kind.int": "a whole number",
    "config.kind.float": "a number",
    "config.kind.str": "text",
    "config.empty": "nothing (the box is empty)",
    "speed.attention_model": "attention: {chosen} ({model} does not support {wanted} in transformers; {chosen} is "
                             "what it supports)",
    "speed.problem_attention": "Attention kernel (speed.attention) is {name}, which {model} does not support; set it "
                               "to auto (picks what the model supports) or one of: {accepted}",
    "failure.attention": "{model} does not support the attention kernel {name}",
    "failure.advice.not_supported": (
        "The model refused a setting it does not support (transformers said so while loading it). Set Attention "
        "kernel (speed.attention) to auto, which picks what the model supports (eager for Gemma 2 and gpt-oss), "
        "then Start again; nothing was trained."
    ),
    "method.experts_adapted": "LoRA adapts the fused experts too ({names}, through peft's target_parameters)",
    "method.experts_not_adapted": "LoRA leaves the fused experts ({names}) as they are: DoRA cannot adapt "
                                  "parameters, only linear layers",
    "method.problem_dora_experts": "DoRA (method.use_dora) cannot train {model}: peft adapts its experts as "
                                   "parameters, which have no DoRA; untick DoRA",
    "speed.packing_sliding_window": "packing: off (the model's sliding-window layers look back {window} tokens, "
                                     "fewer than a row of {length}: packed rows would lose the window)",
}
