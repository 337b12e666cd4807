"""The Simplified Chinese of every engine message code (engine/messages.py holds the English).

Keyed by code; each text uses exactly the placeholders of its English template (a test checks both).
"""

MESSAGES_ZH: dict[str, str] = {
    # engine/data
    "data.holds.alpaca": "alpaca 指令数据",
    "data.holds.sharegpt": "sharegpt 对话",
    "data.holds.openai": "OpenAI 格式的消息",
    "data.holds.preference": "偏好对（chosen/rejected）",
    "data.holds.kto": "标注好坏的回答（KTO）",
    "data.holds.text": "纯文本",
    "data.kind.conversation": "对话",
    "data.kind.preference": "偏好对（chosen/rejected）",
    "data.kind.kto": "不成对、标注好坏的回答（KTO）",
    "data.kind.text": "纯文本",
    "data.kinds_either": "{first}或{rest}",
    "data.stage_needs": "阶段 {stage} 需要{needs}；{dataset} 是{holds}",
    # -- distributed --
    "distributed.node_rank_out_of_range":
        "distributed.node_rank（{node_rank}）必须小于 distributed.nodes（{nodes}）：节点编号从 0 开始",
    "distributed.no_master_address": "distributed.master_address 为空；多机训练需要 0 号节点的地址",
    "distributed.offload_parameters_needs_sharding":
        "distributed.offload_parameters 需要分片的权重：请选择 zero3 或 fsdp 策略（当前为 {strategy}）",
    "distributed.offload_optimizer_needs_zero":
        "distributed.offload_optimizer 属于 DeepSpeed：请选择 zero2 或 zero3 策略（当前为 {strategy}）；"
        "FSDP 会把优化器与参数一起卸载（offload_parameters）",
    "distributed.quantized_sharding":
        "model.quantization {quantization} 不能与 distributed.strategy {strategy} 同时使用：量化后的权重无法分片。"
        "QLoRA 请用 ddp 或 zero2，或把量化设为 none",
    "distributed.too_many_for_gpus":
        "每个节点要求 {processes} 个进程，但只有 {gpus} 块可见 GPU：请把 distributed.processes_per_node 设为 "
        "{gpus} 或更少（0 = 每块 GPU 一个）",
    "distributed.too_many_for_cpus":
        "在没有 GPU、只有 {cores} 个 CPU 核的机器上要求 {processes} 个进程：使用 gloo 时每个进程需要独占一个核；"
        "请把 distributed.processes_per_node 设为 {cores} 或更少",
    "distributed.deepspeed_missing":
        "distributed.strategy {strategy} 需要 DeepSpeed，但它没有安装：pip install deepspeed（在有 CUDA 的机器上），"
        "或改用 ddp 或 fsdp",
    "distributed.deepspeed_needs_gpu":
        "distributed.strategy {strategy} 使用 DeepSpeed，它只能在 GPU 上训练，而这台机器没有 GPU："
        "要在 CPU 上多进程训练请选 ddp",
    "distributed.fsdp_needs_gpu":
        "distributed.strategy fsdp 需要 GPU：Trainer 使用的 accelerate 只在 GPU 等加速器上启用 FSDP，"
        "在这台没有 GPU 的机器上训练会悄悄变成普通的 DDP；请选择 ddp",
    "distributed.rank_failed": "{world_size} 个进程中的第 {rank} 号进程失败，因此所有进程都已停止：{error}",
    "distributed.rank_failed_advice":
        "一个训练进程失败，其余进程随之结束。错误见上方，其输出在 train.log 中（该进程的行）。"
        "排除原因后，“继续”会从最后一个检查点接着训练。",
    "distributed.rank_killed": "它被 {signal} 终止（可能是有人结束了它、程序崩溃，或系统内存耗尽）",
    "distributed.rank_killed_advice":
        "一个训练进程被终止，其余进程随之结束。如果是内存不足，请减小批大小或截断长度，或对模型分片（zero3 或 fsdp）。"
        "“继续”会从最后一个检查点接着训练。",
    "data.holds.mllm": "带图片的对话",
    "data.kind.vision": "带图片的对话",
    "data.vision_needs_vision_model": "{dataset} 含有图片，而 {model} 无法读取图片；请选择视觉模型，例如 builtin:tiny-vlm",
    # images in datasets (engine/data/images.py)
    "images.not_a_path": "图片条目必须是相对于数据文件夹的文件路径；实际为 {value}",
    "images.outside": "图片 {name!r} 指向数据文件夹之外；请把图片放在数据文件夹内",
    "images.not_a_list": "字段 {column!r} 必须是图片路径的列表",
    "images.count_mismatch": "文本中有 {placeholders} 个 <image> 占位符，但列出了 {images} 张图片；每个占位符须按顺序对应一张图片",
    "images.missing": "在数据文件夹中找不到图片 {name}；请随数据集一起上传",
    "images.not_an_image": "{name} 不是图片文件（PNG、JPEG、WebP、BMP 或 GIF）",
    "images.unreadable": "无法读取图片 {name}（{error}）；文件可能被截断或已损坏",
    "images.too_large": "图片 {name} 为 {width}×{height} 像素；最长边最多 {limit} 像素，请先缩小",
    # chat with images (engine/use/chat.py)
    "chat.images_need_vision_model": "{model} 只能读文本；要就图片对话，请选择视觉模型（例如 builtin:tiny-vlm）或在其上训练的运行",
    "export.gguf_vision": "GGUF 导出只写语言模型部分，视觉模型的图像编码器会丢失；请不带 GGUF 导出",

    # engine/config, engine/train: experiments (early stopping, trackers)
    "config.best_needs_validation": "eval.early_stopping_patience 和 eval.load_best_model_at_end 依据验证损失挑选检查点；请把 data.val_size 设为大于 0，留出验证样本",
    "train.early_stop": "在第 {step} 步提前停止，最佳为第 {best} 步",
    "train.tracker_missing": "train.report_to 中的 {tracker} 未安装：请 pip install {tracker}，或将其从列表中移除",
    # names a user gives
    "names.run_name_unusable": "运行名称 {name!r} 不可用：请使用任意语言的字母、数字以及 '-'、'_'、'.'，以字母或数字开头，"
                               "最多 100 个字符",
    "names.dataset_name_unusable": "数据集名称 {name!r} 不可用（文件本身没有问题）：请使用任意语言的字母、数字以及 '_'、'-'、'.'，"
                                   "以字母或数字开头，最多 100 个字符",
    # JSON that does not parse
    "json.invalid_file": "JSON 格式错误：{problem}",
    "json.invalid_line": "第 {line} 行不是合法的 JSON：{problem}",
    "json.array_in_jsonl": "第 1 行不是合法的 JSON：这个文件看起来是 JSON 数组，请把扩展名改为 .json",
    "json.trailing_comma": "第 {line} 行在 `{closer}` 前多了一个逗号（JSON 不允许最后一项后面有逗号）：请删除第 {line} 行第 {column} 列的逗号",
    "json.missing_comma": "第 {line} 行结束的值后面可能缺少逗号 `,`（下一个值从第 {next_line} 行开始）",
    "json.single_quotes": "第 {line} 行用了单引号（'），JSON 的名称和文本必须用双引号（\"）",
    "json.unclosed_text": "从第 {line} 行第 {column} 列开始的文本缺少结尾的双引号（\"）",
    "json.control_character": "第 {line} 行的引号内有换行或制表符，请写成 \\n 或 \\t",
    "json.unexpected_end": "文件提前结束：末尾可能缺少右方括号 `]` 或右花括号",
    "json.several_values": "第 {line} 行开始了第二个值；这个文件看起来是 JSON Lines（每行一个对象），请把扩展名改为 .jsonl",
    "json.error_at": "第 {line} 行第 {column} 列：{detail}",
    "names.dataset_name_taken": "数据集名称 {name!r} 已被使用（文件本身没有问题），请换一个名称",
    "data.media_unsupported": (
        "数据集 {dataset} 声明了 {columns} 列；工作室暂不能用视频或音频训练，否则会悄悄丢弃它们，因此拒绝此数据集"
        "（图像：请用视觉模型和 mllm 格式）"
    ),
    # engine/config/llamafactory.py
    "lf.mapped": "{key} → {field} = {value}",
    "lf.defaults": "未写出，沿用 LLaMA-Factory 的默认值：{keys}",
    "lf.automatic": "由工作室自动处理（无需设置）：{keys}",
    "lf.ignored": "{key}：工作室暂无对应项，已忽略",
    "lf.stage_unknown": "阶段 {stage} 在工作室中没有对应项；请选择 {stages} 之一（GRPO 取代 PPO）",
    "lf.pref_loss_unknown": "pref_loss {loss} 在工作室中没有对应项；请选择 {losses} 之一",
    "lf.template_auto": "模板 {name} → model.template = auto（模型自带的对话模板）",
    "lf.template_unknown": "模板 {name} 不是工作室的模板，且模型没有自带对话模板；相近的名称：{close}（全部：{all}）",
    "lf.merge_without_adapter": "此合并 YAML 未指定 adapter_name_or_path；请设为要合并的训练运行的 output_dir",
    "lf.merge_mapped": "{key}：{value}",
    "lf.merge_run_missing": (
        "adapter_name_or_path {adapter} 不是工作室的运行：请先在此训练该 LLaMA-Factory YAML（其 output_dir 即运行名），"
        "或给出 {saves} 下的运行文件夹"
    ),
    "lf.converted": "已转换 LLaMA-Factory YAML {source}；工作室配置保存为 {target}",
    "lf.merge_converted": "LLaMA-Factory 合并 YAML {source}：等同于  {command}",
    # engine/runs/preflight.py
    "preflight.no_own_template": "model.template 为 auto，但 {model} 没有自带对话模板；请选择：{names}",
    "preflight.lora_target": "method.lora_target 指定了此模型没有的模块：{missing}；它的线性层为 {names}（或使用 all-linear）",
    "preflight.template_unknown": "model.template {name} 不是工作室的模板；相近的名称：{close}（全部：{all}）",
    "preflight.data_rows": "数据集 {dataset} 有 {count} 行有问题，例如 {first}",
}
