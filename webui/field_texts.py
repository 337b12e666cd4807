"""The config fields' labels in English and Simplified Chinese, and their Chinese help (the English help is the
config's own, engine/config/schema.py). tests/test_webui_handlers.py fails when a field the UI shows has none."""

# dotted field -> (English label, Chinese label, Chinese help); English help comes from field_info().
FIELDS: dict[str, tuple[str, str, str]] = {
    "model.name_or_path": ("Base model", "基础模型", "基础模型：builtin:tiny-demo（离线的微型演示模型，只会背下训练过的问答、不会举一反三；首次使用时构建，在 CPU 上需要几十秒到几分钟）、打包的真实模型（packaged:smollm2-135m-instruct、packaged:gemma3-270m）、Hugging Face Hub 模型名、本地文件夹或本地 .gguf 文件（只转换一次）。"),
    "model.template": ("Chat template", "对话模板", "训练与对话使用的模板：auto = 分词器自带的模板，或 templates/ 中的文件。"),
    "model.dtype": ("Compute dtype", "计算精度", "auto = 支持的 GPU 上用 bfloat16，否则 float32。"),
    "model.trust_remote_code": ("Trust remote code", "信任远程代码", "运行模型仓库中附带的 Python 代码。只对你信任的仓库勾选。"),
    "model.allow_pickle_weights": (
        "Allow pickle weights", "允许 pickle 权重",
        "也加载以 pickle 文件（.bin、.pt）保存的权重；加载时可能执行代码，所以默认只读取 safetensors 权重。只对你信任的模型勾选。",
    ),
    "model.quantization": ("Quantization", "量化", "用 bitsandbytes 量化加载基础模型：4bit + LoRA = QLoRA。节省显存；需要 bitsandbytes。"),
    "model.quant_type": ("4-bit type", "4 比特格式", "4 比特数值格式：nf4（推荐）或 fp4。"),
    "model.double_quant": ("Double quantization", "双重量化", "4 比特：同时量化量化常数（每个权重约省 0.4 比特）。"),
    "data.datasets": ("Datasets", "数据集", "用于训练的已注册数据集（dataset_info.json）。"),
    "data.cutoff_len": ("Cutoff length", "截断长度", "单条样本的最大 token 数；更长的样本会被截断并计数。"),
    "data.train_on_prompt": ("Train on prompt", "在提示词上训练", "也在提示词 token 上计算损失（默认只训练助手回复）。"),
    "data.val_size": ("Validation size", "验证集比例", "留作验证集的样本比例（0 = 不划分）。"),
    "data.max_samples": ("Max samples", "最大样本数", "每个数据集最多使用多少条样本（0 = 全部）。"),
    "method.stage": (
        "Stage", "训练阶段",
        "sft = 对话监督微调；pt = 纯文本预训练；rm = 偏好对上的奖励模型；dpo / orpo / kto = 偏好优化；"
        "grpo = 强化学习：模型对每个提示词作答多次，由奖励函数为答案打分（不提供 PPO：TRL 1.16 已没有 PPO，由 GRPO 取代）。",
    ),
    "method.finetuning_type": (
        "Fine-tuning type", "微调方法",
        "full = 全部参数；freeze = 只训练最后几层；bitfit = 只训练偏置项；lora = 低秩适配器（4 比特量化时即 QLoRA）；"
        "adalora、ia3、prefix、prompt、ptuning = 其他 PEFT 方法。",
    ),
    "method.lora_rank": ("LoRA rank", "LoRA 秩", "LoRA 秩 r：适配器大小，常用 8–64。AdaLoRA：最终的平均秩。"),
    "method.lora_alpha": ("LoRA alpha", "LoRA 缩放系数（alpha）", "通常设为秩的 2 倍。"),
    "method.lora_dropout": ("LoRA dropout", "LoRA 随机丢弃", "LoRA 输入上的 dropout 比例。"),
    "method.lora_target": ("LoRA target modules", "LoRA 作用模块", "加适配器的模块：all-linear，或逗号分隔的模块名如 q_proj,v_proj。"
                            "all-linear 也会适配混合专家模型的融合专家参数（DoRA 时不会）。"),
    "method.use_rslora": ("rsLoRA", "rsLoRA", "rsLoRA：按 alpha/√r 而非 alpha/r 缩放，高秩时更稳定。"),
    "method.use_dora": ("DoRA", "DoRA", "DoRA：分别学习每个权重的幅度和方向。"),
    "method.pissa_init": ("PiSSA init", "PiSSA 初始化", "PiSSA：用权重的主奇异向量初始化适配器。"),
    "method.loraplus_lr_ratio": ("LoRA+ LR ratio", "LoRA+ 学习率比", "LoRA+：B 矩阵的学习率 = 此值 × 学习率（0 = 关闭；常用 16）。"),
    "method.modules_to_save": ("Modules to save", "额外保存的模块", "完整训练并随适配器保存的额外模块，如 embed_tokens,lm_head。"),
    "method.adalora_init_rank": ("AdaLoRA initial rank", "AdaLoRA 初始秩", "AdaLoRA：剪枝前每个适配器的初始秩。"),
    "method.num_virtual_tokens": ("Virtual tokens", "虚拟 token 数", "Prefix / Prompt / P-tuning：可训练的虚拟 token 数量。"),
    "method.pref_beta": ("Preference beta", "偏好 β", "DPO / ORPO / KTO 的 β：模型可偏离参考模型的程度（ORPO：优势比项的权重）。"),
    "method.pref_loss": ("DPO loss", "DPO 损失", "DPO 损失：sigmoid（DPO）、ipo、hinge（SLiC）或 simpo（无参考、长度归一化）。"),
    "method.simpo_gamma": ("SimPO gamma", "SimPO γ", "SimPO：目标奖励间隔 γ。"),
    "method.grpo_rewards": (
        "GRPO rewards", "GRPO 奖励函数",
        "GRPO：什么算好答案。reference_rouge = 接近数据集答案（ROUGE-L）；answer_match = 包含数据集答案的最终数字或文本；"
        "format = 整体匹配下方的正则表达式；brevity = 越短越好；reward_model = 已完成的奖励模型运行给出的分数。多个奖励相加。",
    ),
    "method.grpo_num_generations": ("Answers per prompt", "每个提示词的答案数", "GRPO：每个提示词生成的答案数；每个答案与组内平均奖励比较。"),
    "method.grpo_max_new_tokens": ("Max answer tokens", "答案最大 token 数", "GRPO：模型每个答案最多生成的 token 数。"),
    "method.grpo_temperature": ("Sampling temperature", "采样温度", "GRPO：采样温度；同组答案必须各不相同。"),
    "method.grpo_kl_beta": ("KL weight", "KL 权重", "GRPO：偏离基础模型的惩罚权重（0 = 不惩罚，也不计算参考模型）。"),
    "method.grpo_format_regex": ("Format regex", "格式正则", "GRPO 格式奖励：好答案整体匹配的正则表达式，例如 <think>.*</think>.*"),
    "method.grpo_reward_run": ("Reward-model run", "奖励模型运行", "GRPO reward_model 奖励：一个已完成的奖励模型（rm）运行，即它在 saves/ 下的文件夹。"),
    "method.freeze_trainable_layers": ("Trainable layers", "可训练层数", "冻结微调：保持可训练的最后几层解码器层数。"),
    "method.freeze_vision_tower": ("Freeze vision tower", "冻结视觉编码器", "视觉模型：保持图像编码器不变（常用做法：它已经能看，语言部分来学习）。"),
    "method.freeze_projector": ("Freeze projector", "冻结投影层", "视觉模型：保持投影层（图像特征 → 语言嵌入）不变。取消勾选即训练它：LoRA 时整体训练并随适配器保存。"),
    "train.run_name": ("Run name", "运行名称", "运行文件夹的名称；留空 = 日期、时间和阶段。"),
    "train.num_train_epochs": ("Epochs", "训练轮数", "遍历训练数据的次数。"),
    "train.max_steps": ("Max steps", "最大步数", "训练到这么多优化步后停止（0 = 按轮数）。"),
    "train.learning_rate": ("Learning rate", "学习率", "峰值学习率。"),
    "train.per_device_train_batch_size": ("Batch size", "批大小", "每个设备每步的样本数。"),
    "train.gradient_accumulation_steps": ("Gradient accumulation", "梯度累积", "累积多少步的梯度后更新一次参数。"),
    "train.lr_scheduler_type": ("LR scheduler", "学习率调度", "学习率在训练中如何变化。"),
    "train.warmup_ratio": ("Warmup ratio", "预热比例", "学习率预热所占的步数比例。"),
    "train.weight_decay": ("Weight decay", "权重衰减", "AdamW 权重衰减。"),
    "train.max_grad_norm": ("Max gradient norm", "最大梯度范数", "将梯度裁剪到此范数（0 = 不裁剪）。"),
    "train.logging_steps": ("Logging steps", "日志间隔", "每 N 步记录一个损失点。"),
    "train.save_steps": ("Save steps", "保存间隔", "每 N 步保存一个检查点。"),
    "train.save_total_limit": ("Checkpoints kept", "保留检查点数", "只保留最新的 N 个检查点（0 = 全部保留）。"),
    "train.seed": ("Seed", "随机种子", "数据打乱与初始化的随机种子。"),
    "train.gradient_checkpointing": ("Gradient checkpointing", "梯度检查点", "重新计算激活值以节省显存（更慢）。"),
    "eval.eval_steps": ("Eval steps", "评估间隔", "每 N 步在验证集上评估一次（0 = 每轮一次）。"),
    "eval.per_device_eval_batch_size": ("Eval batch size", "评估批大小", "每个评估步的样本数。"),
    "train.report_to": ("Also report to", "同时记录到", "安装了对应包时，同时记录到这些实验追踪工具（TensorBoard 文件总会写入运行文件夹）。"),
    "eval.early_stopping_patience": ("Early stopping patience", "早停耐心值", "验证损失连续 N 次评估未改善就停止（0 = 不早停）；保留最佳检查点并在结束时载入。"),
    "eval.load_best_model_at_end": ("Load best at end", "结束时载入最佳", "每次评估都保存检查点，结束时使用验证损失最低的那个（开启早停时总是开启）。"),
    "export.export_dir": ("Export folder", "导出文件夹", "exports/ 下合并模型的文件夹；留空 = 以运行名命名。"),
    "export.max_shard_size": ("Max shard size", "最大分片大小", "单个 safetensors 分片的上限，如 500MB 或 2GB。"),
    "distributed.processes_per_node": (
        "Processes per machine", "每台机器的进程数",
        "本机上的训练进程数，每块 GPU 一个：0 = 自动（所有可见 GPU；没有 GPU 的机器上为 1）。"
        "在 CPU 上，2 个以上进程通过 gloo 共用 CPU 核：用于试用多 GPU 流程，而不是为了提速。",
    ),
    "distributed.strategy": (
        "Strategy", "并行策略",
        "进程如何分担工作：ddp = 每个进程持有完整模型并平均梯度；zero2 = DeepSpeed ZeRO-2（分片优化器状态和梯度）；"
        "zero3 = DeepSpeed ZeRO-3（权重也分片）；fsdp = PyTorch FSDP（权重、梯度和优化器都分片，类似 ZeRO-3）；"
        "auto = 多进程时用 ddp，单进程时普通训练。",
    ),
    "distributed.offload_optimizer": (
        "Offload optimizer", "卸载优化器", "ZeRO-2/3：把优化器状态放在 CPU 内存中（大幅节省显存，但每步更慢）。"),
    "distributed.offload_parameters": (
        "Offload parameters", "卸载参数", "ZeRO-3 / FSDP：权重在不用时放在 CPU 内存中（FSDP 会连同优化器一起卸载）。"),
    "distributed.nodes": ("Machines", "机器数", "参与训练的机器数；大于 1 时会给出每台机器要运行的命令。"),
    "distributed.node_rank": ("This machine's rank", "本机编号", "本机在各节点中的编号，0 = 负责协调的那台。"),
    "distributed.master_address": ("Node 0 address", "0 号节点地址", "多机训练：0 号节点的地址，所有节点都必须能访问到。"),
    "distributed.master_port": ("Node 0 port", "0 号节点端口", "多机训练：0 号节点上用于汇合的空闲 TCP 端口。"),
    "speed.packing": (
        "Packing", "样本打包",
        "SFT：一行放多个样本，每个样本只关注自身（位置编号按样本重新开始），不在填充上浪费计算。"
        "此时一个批次由行组成，而不是样本。auto = sft 时开启。",
    ),
    "speed.pack_length": ("Packed row length", "打包行长度", "每个打包行的 token 数（0 = 截断长度）。行越长，每步样本越多。"),
    "speed.attention": (
        "Attention kernel", "注意力内核",
        "注意力实现：auto = 有 GPU 且安装了 flash-attn 时用 flash_attention_2，否则用 sdpa；"
        "两者都不支持的模型（Gemma 2、gpt-oss）用 eager。",
    ),
    "speed.liger": (
        "Liger kernels", "Liger 内核",
        "Liger 内核（融合 RMSNorm、RoPE、SwiGLU，以及不保存完整 logits 的交叉熵）：auto = 有 GPU 且安装了 liger-kernel 时开启。",
    ),
    "speed.torch_compile": ("torch.compile", "torch.compile", "用 torch.compile 编译模型：第一步较慢，之后更快。"),
    # issue 16: LLaMA-Factory conveniences
    "data.dataset_dir": (
        "Dataset folder", "数据集文件夹",
        "含有自己的 dataset_info.json 的文件夹（LLaMA-Factory 的 data/ 文件夹）：其中的数据集也可选择，文件名相对于它；"
        "同名时以你工作区的注册表为准。留空 = 不用。",
    ),
    "data.mask_history": ("Train last reply only", "只训练最后一轮回复", "每段对话只训练最后一条助手回复；之前的回复只作为上下文（被遮蔽）。"),
    "model.enable_thinking": (
        "Thinking", "思考模式",
        "会先思考再回答的模型（<think>…</think>，如 Qwen3）：开 = 训练数据中的思考（回复没有思考时补一个空块），对话时允许思考；"
        "关 = 从回复中去掉思考，空块作为提示的一部分，对话时要求不思考。",
    ),
    "method.adapter_run": (
        "Continue adapter", "继续训练适配器",
        "LoRA：在一个已完成的 LoRA 运行的适配器上继续训练（它在 saves/ 下的文件夹，如 tiny-demo/lora/my-run），"
        "而不是新建一个；沿用它的秩和目标模块。留空 = 新适配器。",
    ),
    "train.neftune_noise_alpha": ("NEFTune noise", "NEFTune 噪声", "NEFTune：训练时给嵌入加上这个尺度的均匀噪声（0 = 关闭；常用 5）。"),
    "train.extra_args": (
        "Extra arguments", "额外参数",
        "更多 Hugging Face TrainingArguments，写成 JSON 或 YAML 映射，如 {\"optim\": \"adafactor\"}；开始前会逐项检查。"
        "工作室已由自身字段设置的选项会被拒绝。",
    ),
}

# Option values that are words (the rest are names: sft, lora, cosine, bfloat16): (English, Chinese) as a
# chooser shows them; the config keeps the value itself.
OPTION_WORDS = {
    "auto": ("auto", "自动"),
    "none": ("none", "无"),
    "on": ("on", "开"),
    "off": ("off", "关"),
}

