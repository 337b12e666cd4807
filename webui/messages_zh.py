"""The Simplified Chinese of every engine message code (engine/messages/english.py holds the English).

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
    "json.missing_comma_on_line": "第 {line} 行第 {column} 列之前可能缺少逗号 `,`",
    "names.dataset_name_taken": "数据集名称 {name!r} 已被使用（文件本身没有问题），请换一个名称",
    # hardening
    "train.not_finite": "{quantity} 在第 {step} 步变为 {value}：训练已在此停止，未写入最终模型。请降低学习率（train.learning_rate），保持梯度裁剪（train.max_grad_norm），检查 data.cutoff_len 以及数据中是否有空回答；「继续」会从最后一个正常的检查点接着训练。",
    "train.weights_not_finite": "训练后的权重中有 {count} 个是 NaN 或无穷大，因此没有保存为最终模型。请降低学习率（train.learning_rate）后重新训练。",
    "use.weights_not_finite": "{path} 中有 {count} 个 NaN 或无穷大的权重：训练已将其破坏，无法使用或导出。请降低学习率后重新训练。",
    "runs.damaged": "运行 {run} 的文件中有训练进程从未写入的内容（{detail}），其状态不可信。请删除该运行，或点「继续」从最后一个检查点重新训练。",
    "train.nothing_fits": "没有可训练的数据：此 {stage} 运行的全部 {count} 条{what}都超过 data.cutoff_len={cutoff_len} 个 token（最短：{shortest}）；请把 data.cutoff_len 提高到至少 {shortest}，或使用更短的样本",
    "train.rows_dropped": "{total} 条样本中有 {dropped} 条超过 data.cutoff_len={cutoff_len} 个 token，已略过",
    "train.unit.pairs": "偏好对",
    "train.unit.prompts": "提示词",
    "data.preview_cut": "{text}…（还有 {more} 个字符）",
    # engine/data: the check report
    "check.header": "{file}：{rows} 行",
    "check.header_format": "{file}：{rows} 行，格式 {formatting}（置信度 {confidence}）",
    "check.reason_line": "  {reason}",
    "check.usable": "可以使用：没有发现问题",
    "check.not_usable_one": "不能使用：1 个问题",
    "check.not_usable": "不能使用：{count} 个问题",
    "check.problem_line": "  - {problem}",
    "check.more": "  ……还有 {count} 个",
    "check.at_row": "第 {row} 行：{problem}",
    "check.at_field": "字段 {field!r}：{problem}",
    "check.at_row_field": "第 {row} 行，字段 {field!r}：{problem}",
    "check.in_file": "{file}：{problem}",
    "check.value.bool": "真/假值",
    "check.value.number": "数字",
    "check.value.list": "列表",
    "check.value.object": "对象",
    "check.value.text": "文本",
    "check.value.null": "空值 null",
    "check.binary.zip": "ZIP 压缩包（.xlsx 和 .docx 也是）",
    "check.binary.gzip": "gzip 压缩包",
    "check.binary.pdf": "PDF 文档",
    "check.binary.png": "PNG 图片",
    "check.binary.jpeg": "JPEG 图片",
    "check.binary.parquet": "Parquet 文件",
    "check.binary.sqlite": "SQLite 数据库",
    "check.binary.elf": "程序（ELF 可执行文件）",
    "check.empty_file": "文件是空的（0 字节），至少需要一行数据",
    "check.binary_kind": "这是{kind}，不是 {suffix} 文本文件；请把数据导出为 {suffix}",
    "check.utf16": "文件是 UTF-16 编码；请另存为 UTF-8（多数编辑器：另存为 → 编码 → UTF-8）",
    "check.nul_byte": "这是二进制文件（第 {offset} 字节处有 NUL 字节），不是 {suffix} 文本",
    "check.parquet_is_text": "这不是 Parquet 文件：它是以 {start!r} 开头的文本；请按内容把扩展名改为 .json、.jsonl 或 .csv",
    "check.parquet_signature": "这不是 Parquet 文件（缺少 PAR1 标记）；请重新导出为 Parquet",
    "check.whitespace_only": "文件里只有空白字符，至少需要一行数据",
    "check.not_utf8": "文件不是合法的 UTF-8：第 {offset} 字节（第 {line} 行）的字节 0x{byte} 无法解码（「{reason}」）；"
                      "它可能是 Latin-1/Windows-1252 或 GBK 编码的文本，请另存为 UTF-8",
    "check.json_too_big": "文件是 {size} MB 的 JSON 数组；超过 {limit} MB 的数组不会整体读取。请转换为 JSON Lines"
                          "（.jsonl，每行一个对象），它会逐行检查和加载",
    "check.top_level": "最外层是{kind}；它必须是由行组成的列表：[{{...}}, {{...}}]",
    "check.top_level_under": "最外层是{kind}；它必须是由行组成的列表：[{{...}}, {{...}}]（数据行似乎在 {key!r} 下面：只保留那个列表）",
    "check.csv_header": "CSV 表头 {header} 必须给每一列取一个不重复的名字",
    "check.csv_fields": "有 {fields} 个字段，但表头有 {columns} 个（第 {line} 行）；可能有引号或逗号放错了位置",
    "check.csv_quoting": "第 {line} 行附近的 CSV 引号有误（「{error}」）：每个带引号的字段都要闭合，字段里的引号要写两次（\"\"）",
    "check.parquet_unreadable": "无法按 Parquet 读取（「{error}」）",
    "check.folder_empty": "文件夹 {folder} 中没有 {suffixes} 文件",
    "check.unsupported_in_file": "{file}：不支持的文件类型 {suffix!r}；请使用 {suffixes}",
    "check.not_utf8_short": "{file} 不是 UTF-8 文本（第 {byte} 字节）；请另存为 UTF-8 后重新上传",
    "check.not_objects": "{file} 必须是对象列表（每个样本一个对象）",
    "check.no_rows_in": "{file} 中没有数据行",
    "check.unknown_formatting": "未知格式 {formatting!r}；请使用 auto 或以下之一：{formats}",
    "check.folder_mixed": "{file} 是 {formatting} 数据，而 {first} 是 {other}；一个文件夹里只能有一种格式",
    "check.missing_file": "{path} 不存在",
    "check.unsupported": "不支持的文件类型 {suffix!r}；请使用 {suffixes}",
    "check.unknown_format": "无法识别格式：{reason}",
    "check.row_not_object": "是{kind}，不是对象；每一行都必须写成 {{\"列名\": 值, ...}}",
    "check.row_empty": "是空行，请删除",
    "check.no_rows": "文件中没有数据行",
    "check.all_empty": "全部 {count} 行都是空的，没有可训练的内容",
    "check.mixed_formats": "格式混杂：这一行看起来是 {shape}，而整个文件是 {formatting}；一个文件只能有一种格式（请拆成两个文件）",
    "check.long_row": "有 {tokens} 个 token，是截断长度 {cutoff} 的 {ratio} 倍；训练只会保留开头部分——请缩短或拆分，或提高截断长度",
    "check.long_row_about": "约有 {tokens} 个 token，是截断长度 {cutoff} 的 {ratio} 倍；训练只会保留开头部分——请缩短或拆分，或提高截断长度",
    "check.not_registered": "数据集 {name!r} 没有注册",
    "check.upload_too_big": "文件有 {size} MB；上传上限为 {limit} MB——请拆分成较小的文件",
    "check.not_imported": "{file} 没有导入（没有注册任何数据集）：\n{report}",
    # engine/data/rules.py: one row against its format
    "rules.missing_column": "缺失；每个 {label} 行都需要列 {column!r}",
    "rules.not_text": "必须是文本，但现在是{kind}",
    "rules.empty": "是空的；每一行都需要它",
    "rules.history_pairs": "必须是由 [问题, 回答] 文本对组成的列表",
    "rules.missing": "缺失；每个 {label} 行都需要它",
    "rules.no_turns": "必须是非空的对话轮次列表",
    "rules.turn_not_object": "第 {turn} 轮必须是包含 {role_tag!r} 和 {content_tag!r} 的对象",
    "rules.unknown_role": "第 {turn} 轮的 {role_tag}={role!r}；角色名必须是 {user!r}、{assistant!r} 或 {system!r}（仅限第一轮）",
    "rules.out_of_order": "轮次顺序错误：第 {turn} 轮来自 {role!r}，但应该来自 {expected!r}；轮次按 {user}、{assistant}、{user}……交替",
    "rules.empty_content": "第 {turn} 轮的 {content_tag!r} 为空或不是文本",
    "rules.last_turn": "最后一轮必须来自 {role!r}",
    "rules.pair_missing": "缺失、为空或不是文本；每个偏好行都需要一个 chosen 回答和一个 rejected 回答",
    "rules.pair_identical": "与 'chosen' 完全相同；偏好对需要两个不同的回答",
    "rules.kto_label": "必须是 true 或 false（这个回答是否可取？），但现在是{kind}",
    # engine/data/formats.py: what detection saw
    "data.signature.alpaca": "instruction/output 字段",
    "data.signature.sharegpt": "from/value 轮次的 conversations",
    "data.signature.openai": "role/content 轮次的 messages",
    "data.signature.preference": "chosen/rejected 字段",
    "data.signature.kto": "布尔型 label",
    "data.signature.text": "只有文本",
    "data.reason.no_rows": "没有可查看的数据行",
    "data.reason.unknown": "{total} 行中没有一行符合已知格式（看到的列：{columns}）；应为 instruction/output（alpaca）、"
                           "conversations 或 messages（sharegpt / OpenAI）、chosen/rejected（偏好）、布尔型 label（KTO）或 text",
    "data.reason.forced": "格式设为 {label}；{total} 行中有 {matching} 行包含 {what}",
    "data.reason.detected": "{total} 行中有 {matching} 行包含 {what}；看起来是 {label}",
    "data.reason.detected_others": "{total} 行中有 {matching} 行包含 {what}；看起来是 {label}（{others}）",
    "data.reason.other_shape": "{count} 行像 {shape}",
    "data.none": "无",
    # a config that cannot train
    "config.not_a_choice": "{field} 必须是以下之一：{choices}；现在是 {value}",
    "config.below_minimum": "{field} 必须 ≥ {bound}；现在是 {value}",
    "config.above_maximum": "{field} 必须 ≤ {bound}；现在是 {value}",
    "config.not_above": "{field} 必须 > {bound}；现在是 {value}",
    "config.no_datasets": "没有选择数据集（data.datasets）：请至少选择一个用于训练的数据集",
    "config.no_model": "基础模型（model.name_or_path）为空：请选择内置演示模型、Hub 模型名或本地文件夹",
    "config.quantized_full": "model.quantization {quantization} 只能训练适配器；量化后的权重不能用 method.finetuning_type "
                             "{finetuning_type} 训练：请选择 lora（即 QLoRA），或把量化设为 none",
    "config.pissa_quantized": "method.pissa_init 只适用于未量化的权重：请关闭它，或把量化设为 none",
    "config.needs_head": "训练阶段 {stage} 需要能训练打分头的微调方法：请从 {methods} 中选择",
    # what this machine lacks for a run
    "preflight.disk_full": "保存文件夹所在磁盘只剩 {free}，而这次运行的检查点（最多 {checkpoints} 个）和最终模型约需 {needed}。"
                           "请腾出空间、少保留检查点（train.save_total_limit），或改用 LoRA（保存的内容少得多）。",
    "preflight.no_bitsandbytes": "量化（model.quantization）需要 bitsandbytes 包，但它没有安装：请运行 pip install bitsandbytes，"
                                 "或把量化设为 none",
    # speed
    "speed.packing_on": "打包：开启，每行 {length} 个词元（一行放多个样本，每个样本只关注自身）",
    "speed.packing_off": "打包：关闭（已手动关闭；每个样本填充到批内最长样本）",
    "speed.packing_stage": "打包：关闭（{stage} 自行组批）",
    "speed.attention_chosen": "注意力：{name}（手动选择）",
    "speed.attention_no_gpu": "注意力：sdpa（没有 GPU；FlashAttention 需要 GPU）",
    "speed.attention_no_flash": "注意力：sdpa（未安装 flash-attn）",
    "speed.attention_float32": "注意力：sdpa（FlashAttention 只支持 16 位计算；模型精度为 float32）",
    "speed.attention_flash": "注意力：flash_attention_2（检测到 GPU 与 flash-attn；打包行使用其变长内核）",
    "speed.liger_off": "Liger：关闭（已手动关闭）",
    "speed.liger_stage": "Liger：关闭（仅用于 sft 与 pt；{stage} 有自己的损失函数）",
    "speed.liger_missing": "Liger：未安装（在 CUDA 机器上 `pip install liger-kernel`）",
    "speed.liger_no_gpu": "Liger：关闭（其内核需要 GPU）",
    "speed.liger_on": "Liger：开启（融合 RMSNorm、RoPE、SwiGLU 与交叉熵）",
    "speed.compile_on": "torch.compile：开启（编译期间前几步较慢）",
    "speed.compile_off": "torch.compile：关闭",
    "speed.checkpointing_on": "梯度检查点：开启（更省显存，约慢三分之一）",
    "speed.checkpointing_off": "梯度检查点：关闭",
    "speed.problem_packing_stage": "speed.packing 设为 on 只适用于 sft；{stage} 自行组批：请改为 auto 或 off",
    "speed.problem_pack_length": "speed.pack_length（{length}）小于 data.cutoff_len（{cutoff}）：一个样本必须放得进一行；请设为 0（= 截断长度）或至少 {cutoff}",
    "speed.attention_fallback": "注意力：sdpa（选择了 flash_attention_2，但它需要 CUDA GPU 和 flash-attn 包）",
    "speed.liger_unavailable": "Liger：关闭（选择了开启，但它需要 CUDA GPU 和 liger-kernel 包）",
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
    "speed.packing_virtual_tokens": "打包：关闭，{method} 会添加虚拟 token，每行只能放一条样本",
    # notes, tags, archiving and deleting runs
    "runs.note_too_long": "备注有 {length} 个字符；请控制在 {limit} 个以内",
    "runs.tag_too_long": "标签“{tag}”超过 {limit} 个字符；请缩短",
    "runs.too_many_tags": "给了 {count} 个标签；一个运行最多保留 {limit} 个",
    "runs.name_unknown": "没有名为 {name} 的运行；请给出它的文件夹（`python -m engine runs --all` 列出所有运行）",
    "runs.name_not_unique": "有多个名为 {name} 的运行：{folders}；请给出你要的那个的文件夹",
    "runs.delete_not_run_folder": "{folder} 不是 {saves} 中的运行文件夹（saves/<model>/<method>/<run>）；未删除任何内容",
    "runs.delete_queued": "运行 {run} 正在队列中等待：请先取消它（停止），再删除",
    "runs.delete_training": "运行 {run} 正在训练：请先停止并等它结束，再删除",
    "runs.delete_confirm": "删除运行 {run} 及其位于 {folder} 的全部文件（{size}）？此操作无法撤销。[y/N] ",
    "runs.delete_needs_yes": "删除运行需要确认：请在终端中运行该命令，或加上 `--yes`",
    "runs.deleted": "已删除运行 {run}（释放 {size}）",
    "runs.delete_kept": "未删除任何内容",
    "runs.archived": "运行 {run} 已归档：不再显示在运行列表中（`python -m engine runs --all` 会显示），文件保留",
    "runs.unarchived": "运行 {run} 已回到运行列表",
    "runs.note_saved": "运行 {run}：备注已保存",
    "runs.tags_saved": "运行 {run}：标签 {tags}",
    "runs.none_match": "没有匹配的运行；加上 `--all` 会列出已归档的运行",
    "speed.label_logits_on": "输出层：只在参与训练的词元上计算（从不计算提示部分的 logits；会缩放 logits 的模型和视觉模型仍用完整输出层）",
    "speed.label_logits_liger": "输出层：Liger 融合交叉熵（从不保留完整 logits）",
    "speed.label_logits_stage": "输出层：每个词元（{stage} 有自己的损失函数）",
    # launch.py
    "launch.auth_twice": "登录信息只需给一次：--auth 或 --auth-file，不要同时使用",
    "launch.auth_file_unreadable": "无法读取 --auth-file {path}：{error}",
    "launch.auth_file_lines": "--auth-file {path} 必须只有一行 user:password（以 # 开头的行是注释）；实际有 {count} 行",
    # engine/data/registry.py
    "registry.not_json": "{path} 不是有效的 JSON（第 {line} 行，第 {column} 列）：{error}",
    "registry.not_utf8": "{path} 不是 UTF-8 文本",
    "registry.too_deep": "{path} 嵌套过深，无法读取",
    "registry.not_object": "{path} 必须是以数据集名称为键的 JSON 对象；实际是 {kind}",
    "registry.unreadable": "无法读取 {path}：{error}",
    "registry.broken_note": "无法读取数据集注册表，其中的数据集不会列出：{problems}",
    # engine/data/reader.py
    "check.folder_link_out": "数据集文件夹 {folder} 中的 {file} 是指向文件夹外文件的链接；只读取文件夹内的文件",
    # engine/models/loading.py
    "model.pickle_only": (
        "{name} 的权重只有 pickle 文件（{files}），加载时可能执行任意代码，因此默认不读取。请把模型转换为 safetensors，"
        "或在信任其来源时勾选“允许 pickle 权重”（model.allow_pickle_weights）。"
    ),
    "model.pickle_only_beside": "{refusal}（旁边的 {others} 不是模型的权重：模型权重应为 {weights}。）",
    # engine/data/template_bounds.py
    "template.too_long": "模型自带的对话模板在渲染四条消息的样例时写出超过 {limit} 个字符，因此不使用它；请选择工作室的模板",
    "template.too_slow": "模型自带的对话模板渲染四条消息的样例超过 {seconds} 秒，因此不使用它；请选择工作室的模板",
    # engine/data/reader.py: bounds on what one value, row or file may hold while read
    "check.nested_too_deep": (
        "JSON 嵌套过深，无法读取（上千层）；每行应是由字段组成的对象"
    ),
    "check.value_too_big": (
        "包含 {size} MB 的值；单个值最多 {limit} MB"
    ),
    "check.row_too_big": (
        "文本超过 {limit} MB；每行最多 {limit} MB"
    ),
    "check.csv_value_too_big": (
        "第 {line} 行：有一个值超过 {limit} MB，其后的行无法定位；请拆分该值或文件"
    ),
    "check.parquet_rows_expand": (
        "这些行解压后超过 {limit} MB——请把文件拆成更小的文件"
    ),
    "check.parquet_row_too_big": (
        "包含 {size} MB 文本（最大的值 {largest} MB）；每行最多 {row_limit} MB，单个值最多 {value_limit} MB"
    ),
    "check.parquet_expands": (
        "文件解压后为 {size} MB；最多读取 {limit} MB——请把它拆成更小的文件"
    ),
    "check.parquet_row_group": (
        "一个行组解压后为 {size} MB；每个行组最多读取 {limit} MB——请用更小的行组写出"
    ),
    # issue 16
    "data.dataset_dir_missing": "data.dataset_dir {folder} 中没有 {file}；请指向含有 LLaMA-Factory 的 dataset_info.json 的文件夹（它的 data/ 文件夹）",
    "data.no_source": "数据集 {dataset} 没有指定 {sources} 中的任何一个；请添加 file_name（注册表旁的文件或文件夹）",
    "data.not_a_file": "数据集 {dataset} 从 {source} 加载，不是文件；这里需要带 file_name 的条目",
    "data.hub_unreachable": (
        "数据集 {dataset} 要从 {hub} 加载 {id}（{key}），但这里无法连接（离线），也没有缓存的副本；请在有网络的地方加载一次"
        "（之后会被缓存），或下载后用 file_name 注册该文件"
    ),
    "data.hub_not_found": "数据集 {dataset}：找不到 {key} {id}（{hub}）：{error}",
    "data.hub_failed": "数据集 {dataset}：加载 {key} {id} 失败：{error}",
    "data.hub_package": "数据集 {dataset} 从 {key} 加载，需要安装 {package} 包：pip install {package}",
    "rules.pair_conversations_differ": (
        "chosen 和 rejected 是完整的对话，但在最后一条消息之前就不同（或没有以助手回复结尾）；偏好对应共享同一提示，只在回答上不同"
    ),
    "check.placeholders": (
        "{rows} 行含有占位符 {names}：它们会被当作字面文字训练；请先填写（数据页：填写占位符，或 python -m engine data fill）"
    ),
    "check.note_line": "  注意：{note}",
    "placeholders.none": "数据集 {dataset} 中没有 {{{{...}}}} 占位符",
    "placeholders.missing_value": "请为每个占位符填写值：{names}",
    "placeholders.saved": "已将 {rows} 行保存为 {name}，并填入 {values}",
    "extra_args.not_mapping": "train.extra_args 必须是 TrainingArguments 选项的 JSON 或 YAML 映射，例如 {{\"optim\": \"adafactor\"}}；实际为 {value}",
    "extra_args.unknown": "train.extra_args：{key} 不是 TrainingArguments 的选项；相近的名称：{close}",
    "extra_args.owned": "train.extra_args：{key} 由工作室根据 {field} 设置；请改设该字段",
    "extra_args.studio_only": "train.extra_args：{key} 由工作室自己设置，不能在这里修改",
    "extra_args.bad_value": "train.extra_args：TrainingArguments 不接受这些选项：{error}",
    "adapter.needs_lora": "method.adapter_run 用于继续训练 LoRA 适配器：请把 method.finetuning_type 设为 lora",
    "adapter.missing": "method.adapter_run {run} 不是 {saves} 下已完成的 LoRA 运行（需要 {final}/adapter_config.json）",
    "adapter.other_base": "method.adapter_run {run} 是在 {base} 上训练的，不是 {model}；请在它自己的基础模型上继续训练",
    "lf.adapter_run": "adapter_name_or_path {adapter} → method.adapter_run = {run}",
    # vision-language: packing, archive uploads, previews
    "speed.packing_vision": "打包：关闭，视觉模型每行只放一段对话及其图片",
    "archive.unreadable": "{archive} 无法作为 zip 压缩包读取（{error}）",
    "archive.too_many_entries": "压缩包含 {count} 个条目；最多解压 {limit} 个——请拆分为多次上传",
    "archive.duplicate": "条目 {entry} 在压缩包中出现了两次；请只保留一个",
    "archive.ratio": "条目 {entry} 解压后会膨胀 {ratio} 倍（最多 {limit} 倍）；这像是 zip 炸弹，已拒绝",
    "archive.too_big": "压缩包解压后超过 {limit} MB（在条目 {entry} 处达到）；请拆分为更小的上传",
    "archive.escapes": "条目 {entry} 会被写到数据集文件夹之外（绝对路径或 ..）；已拒绝",
    "archive.not_a_file": "条目 {entry} 是链接或特殊文件，不是普通文件；已拒绝",
    "archive.size_lies": "条目 {entry} 的数据多于其头部声明的 {size} 字节；已拒绝",
    "archive.no_dataset": "压缩包中没有数据集文件：请在图片旁放一个对话的 .json 或 .jsonl 文件",
    "archive.several_datasets": "压缩包中有多个数据集文件（{names}）；请只保留一个 .json 或 .jsonl 文件",
    # several messages shown as one, a line each
    "lines.one": "{line}",
    "lines.more": "{first}\n{rest}",
    # engine/runs/failures.py
    "failure.out_of_memory": "内存不足：{error}",
    "failure.disk_full": "磁盘已满：{error}",
    "failure.disk_full_unnamed": "磁盘已满（{error}）",
    "failure.not_writable": "无法写入 {file}：{error}",
    "failure.its_folder": "运行文件夹",
    "failure.config_problems": "配置有问题：\n{problems}",
    "failure.problem_line": "- {problem}",
    "failure.advice.out_of_memory": (
        "模型和一个训练批次放不进内存。请逐一尝试：减小批大小（train.per_device_train_batch_size）并增大梯度累积以保持"
        "相同的有效批大小；减小截断长度（data.cutoff_len）；打开梯度检查点（train.gradient_checkpointing）；用 LoRA "
        "代替全量训练；若 GPU 支持，以 4 比特加载模型（QLoRA）；或换一个更小的模型。“继续训练”会从最后一个检查点继续。"
    ),
    "failure.advice.disk_full": (
        "保存文件夹所在的磁盘已满，无法写入检查点或日志。请腾出空间（删除旧的运行或导出），少保留一些检查点"
        "（train.save_total_limit），或把保存文件夹移到更大的磁盘；然后“继续训练”会从最后一个完整的检查点继续。"
    ),
    "failure.advice.not_writable": (
        "运行无法写入它的文件夹。请检查保存文件夹是否存在、是否是文件夹，以及运行工作室的用户是否有写入权限"
        "（或把 STUDIO_SAVES_DIR 指向别处）。"
    ),
    "failure.advice.data": (
        "训练数据无法直接使用。打开“数据”页（或运行 python -m engine data check 数据集名）查看每一个有问题的行；"
        "修正文件、选择训练阶段所需类型的数据集，或更换训练阶段。尚未训练任何内容，数据修好后重新点击“开始”即可。"
    ),
    "failure.advice.killed": (
        "训练进程没有留下任何信息就结束了：有东西终止了它（有人手动结束、程序崩溃，或系统在内存耗尽时结束了它）。"
        "“继续训练”会从最后一个检查点继续。"
    ),
    "preflight.saves_is_file": "保存文件夹 {folder} 是一个文件而不是文件夹；请把它移走，或把 STUDIO_SAVES_DIR 指向一个文件夹",
    "preflight.saves_not_writable": "无法写入保存文件夹 {folder}：{error}；{advice}",
    # engine/export/merge.py
    "export.no_adapter": "运行 {run} 没有 LoRA 适配器（它不是已完成的 LoRA 运行）；请导出完整模型",
    "export.folder_exists": "导出文件夹 {name!r} 已存在于 {folder}；请换一个名称",
    "export.unknown_gguf": "未知的 GGUF 类型 {kinds}；可选：{choices}",
    "export.gguf_reward_model": "奖励模型只给文本打分，不能对话：GGUF 用于对话模型；请不带 GGUF 导出",
    "export.gguf_needs_merged": "GGUF 文件由合并后的模型生成；请取消勾选“仅导出适配器”再导出 GGUF",
    # engine/data/cleaning.py
    "cleaning.bad_ratio": "验证集比例必须在 0 到 0.5 之间；当前为 {ratio}",
    "cleaning.wrong_kind": "数据集 {name!r} 是 {label} 数据；清洗只适用于指令数据（{kinds}）",
    "failure.silent.disk_full": "训练进程在磁盘已满时终止了",
    "failure.silent.killed": "训练进程在完成前被终止了",
    "failure.silent.before_start": "训练进程在开始训练前就结束了；train.log 的末尾：\n{tail}",
    "lf.dataset_dir_remote": "dataset_dir {value} 要从 Hugging Face Hub 读取 dataset_info.json，而工作室无法访问 Hub；请下载该文件夹，并把本地路径填为 dataset_dir",
    "lf.dataset_dir_absent": "未写 dataset_dir：LLaMA-Factory 会在 {folder} 中查找，但那里没有 dataset_info.json，因此只在你的工作区登记表中查找数据集（把 dataset_dir 设为 LLaMA-Factory 的 data 文件夹即可使用其数据集）",
    "lf.packing_default": "未写 packing → speed.packing = off：LLaMA-Factory 只在指定时才打包，因此每轮的优化步数与在那里相同",
    "lf.deepspeed_unknown": "deepspeed {value}：无法从文件名判断 ZeRO 阶段（LLaMA-Factory 的文件名为 ds_z0/z2/z3[_offload]_config.json）；请自行设置“分布式 › 策略”",
    "lf.kto_batch": "kto 阶段的 per_device_train_batch_size 由 1 改为 2，gradient_accumulation_steps 改为 {accumulation}：TRL 的 KTO 要把每个回答与同批的另一个比较，每步只有 1 条无法训练；每次更新的样本数大致不变",
    "lf.merge_gptq": "export_quantization_bit {bits}：GPTQ 量化需要 GPU 以及 optimum 和 gptqmodel 包，工作室不使用它们；删去 export_quantization_* 键即可导出合并后的模型（`python -m engine export RUN --gguf q4_k_m` 可为 llama.cpp 写出 4 位文件）",
    "lf.merge_run_ambiguous": "{adapter} 对应多个运行（{runs}）；请直接给出运行文件夹",
    "lf.converted_refused": "转换后的配置含有工作室无法训练的值；请在 YAML 中修改：",
    "lf.kind_chat": "{source} 是推理 YAML（只有模型和模板，没有阶段）：请用 `python -m engine chat {source}` 与它对话",
    "lf.kind_predict": "{source} 用于预测（do_predict 而非 do_train）：请用 `python -m engine eval {source} --generate` 运行",
    "lf.kind_preprocess": "{source} 只对数据做分词（do_train: false）：工作室在运行开始时编码数据集并缓存；要训练请设 do_train: true",
    "lf.kind_merge_eval": "{source} 是合并 YAML：请用 `python -m engine export {source}` 导出",
    "lf.export_not_merge": "{source} 不是合并 YAML（它有阶段，或没有 export_dir）：请先用 `python -m engine train {source}` 训练，再导出该运行",
    "lf.eval_task": "{source} 中的 task {task}：LLaMA-Factory 自带的 MMLU/C-Eval 评测在这里由 lm-evaluation-harness 取代：`python -m engine bench RUN --tasks mmlu`（该任务的数据须已缓存在本机）",
    "lf.pointer_webui": "工作室就是网页界面：运行 `python launch.py`，然后打开它打印的地址（http://127.0.0.1:7860）",
    "lf.pointer_webchat": "对话是工作室的一个标签页：运行 `python launch.py`，然后打开“对话”；在终端中：`python -m engine chat RUN_DIR`",
    "lf.pointer_api": "运行的 OpenAI 兼容服务：`python -m engine serve RUN_DIR`（见 README 的“在代码中使用你的模型”）",
    "cli.override_unknown": "{key} 既不是工作室字段（分区.字段，例如 train.learning_rate），也不是工作室能对应的 LLaMA-Factory 键",
    "stage.kto_batch": "KTO 要把每个回答与同批的另一个比较：请把“批大小”（train.per_device_train_batch_size）设为 2 或以上；可同时减小“梯度累积”以保持每次更新的样本数",
    "lf.warmup_steps": "warmup_steps {steps}：工作室按步数的比例预热（train.warmup_ratio），未设 max_steps 时总步数取决于数据；请改设“预热比例”（train.warmup_ratio）",
    "speed.packing_auto_kept": "样本打包（自动）：开启，每轮 {packed} 个优化步（不打包为 {unpacked} 个）",
    "speed.packing_auto_off": "样本打包（自动）：对此数据关闭：打包后每轮只有 {packed} 个优化步（不打包为 {unpacked} 个），总更新次数少于 {minimum}；每行一个样本可保持你设定的训练进度（要强制打包请把“样本打包”设为开启）",
    # engine/data/encoding_parts.py
    "data.encode_stalled": (
        "编码停滞：第 {first}–{last} 行在 {seconds} 秒内没有结果（每部分通常约需 1 秒），因此已停止运行而不是无限等待；"
        "请重新开始，若再次停滞，请释放一些内存或 CPU，或用环境变量 {setting} 调大时限"
    ),
    "data.encode_start_stalled": "编码进程未能在 {seconds} 秒内启动；机器可能内存不足或负载过高，请释放一些资源后重新开始运行",
    "data.encode_process_died": (
        "一个编码进程意外退出（退出码 {code}），多半是内存不足；请释放一些内存或调小“最大样本数”，然后重新开始运行"
    ),
    # -- benchmarks and judges (engine/benchmarks/) --
    "bench.no_tasks": "请至少选择一个评测任务",
    "bench.unknown_task": "{task} 不是 lm-evaluation-harness 认识的任务；请用它的任务名（如 mmlu、ceval-valid、gsm8k）或 local:<已登记的数据集>",
    "bench.not_cached": "{title} 需要从 Hub 获取数据，本机尚未缓存（{task} 读取 {dataset}）。请联网下载一次，或换一个任务",
    "bench.no_result": "运行 {run} 还没有训练结果（缺少 final/）：请等它完成后再评测",
    "bench.local_empty": "数据集 {dataset} 中没有可提问的行；请先添加问题",
    "bench.local_bad_choices": "数据集 {dataset} 第 {row} 行：choices 必须是至少两个答案的列表，并包含该行的答案；请修正该行，或删去 choices（改为简答题）",
    "judge.unknown_mode": "未知的评判方式 {mode}；请从 {modes} 中选择",
    "judge.prompt_placeholders": "评判提示词缺少 {missing}：请把它们放回问题和回答应在的位置",
    "judge.bounds": "评判的行数和每次评判回复的最大 token 数都必须至少为 1",
    "judge.no_endpoint": "没有评判端点：请填写 OpenAI 兼容服务的 Base URL（例如 http://127.0.0.1:8000/v1）",
    "judge.cost": "{rows} 行，调用评判模型 {calls} 次：提示约 {prompt_tokens} 个 token，回复最多 {max_reply_tokens} 个 token",
    "judge.result": "{judge} 评判了 {rows} 行：{won}；{no_verdict} 行没有结论",
    "judge.no_judged": "没有任何结论",
    # engine/config/parsing.py
    "yaml.too_long": "YAML 文本长 {chars} 个字符；配置最多 {limit} 个字符",
    "yaml.invalid": "文本不是有效的 YAML：{error}",
    "yaml.aliases": "YAML 使用了别名（*name）；请把每个值直接写出来",
    "yaml.too_deep": "YAML 嵌套超过 {depth} 层；配置只包含由字段组成的分节",
    "yaml.not_sections": "配置必须是分节的映射（{sections}）",
    # engine/train/extra_args.py
    "extra_args.outside": "train.extra_args：{key} 会触及本次运行之外（Hub，或按路径指定的文件），不能在这里设置；请删除它",
    "extra_args.not_offered": "train.extra_args：{key} 不能在这里设置；可设置的选项有：{allowed}",
    "extra_args.bad_option": "train.extra_args：{key} 必须是{rule}；实际为 {value}",
    "extra_args.rule.yes_no": " true 或 false",
    "extra_args.rule.whole": " {low} 到 {high} 之间的整数",
    "extra_args.rule.number": " {low} 到 {high} 之间的数",
    "extra_args.rule.text": "最多 200 个字符的文本",
    "extra_args.rule.numbers": "最多 8 个“名称: 数值”的映射",
    # engine/data/hub.py
    "data.cloud_not_remote": "数据集 {dataset}：cloud_file_name 必须是云存储地址（{schemes}）；实际为 {value}。请把本地文件放在注册表旁边，并在 file_name 中填写它",
    "data.location_outside": "数据集 {dataset}：{key} {value} 是数据集文件夹 {folder} 之外的路径；请把数据放在该文件夹内，并填写相对于它的路径",
    "data.hub_bad_id": "数据集 {dataset}：{key} {value} 不是数据集 ID（所有者/名称，例如 llamafactory/alpaca_en）；请在注册表中更正",
    "data.subfolder_outside": "数据集 {dataset}：folder {value} 必须是数据集内部的文件夹，并使用相对路径（不能以 / 开头，不能含 ..）",
    # engine/data/archives.py
    "archive.total_ratio": "压缩包的 {entries} 个条目解压后共 {size} MB，是压缩大小的 {ratio} 倍（最多 {limit} 倍）：作为压缩炸弹被拒绝；请直接压缩数据集原文件",
    "archive.disk_full": "压缩包解压后共 {size} MB，但磁盘只剩 {free} MB 可用；请先腾出空间",
    "archive.data_folder_full": "数据文件夹已占用 {used} MB，此压缩包还会增加 {size} MB（总共最多 {limit} MB）；请先删除不再需要的数据集",
    # engine/export/gguf.py：llama.cpp 的转换器和量化器
    "export.gguf_no_converter": "GGUF 导出需要 llama.cpp 的转换器（convert_hf_to_gguf.py 及其 conversion/、gguf-py/ 文件夹）位于 {folder}：请从 llama-cpp-python 0.3.36 源码包中解压到那里（.ci/run 会这样做），或把 STUDIO_LLAMA_CPP 设为一个 llama.cpp 源码目录；也可以不带 GGUF 导出",
    "export.gguf_unsupported": "llama.cpp 的转换器不能把 {architecture} 模型写成 GGUF，因此没有进行合并；请不带 GGUF 导出（合并后的模型可在 transformers 中运行），或训练 llama.cpp 支持的模型系列（Llama、Qwen、Gemma、Mistral、Phi 等）",
    "export.gguf_no_quantizer": "GGUF 类型 {kinds} 由 llama.cpp 的量化器生成，它随 llama-cpp-python 提供：请安装它（见 README 的 GGUF 一节），或选择 f16 或 bf16",
    "export.gguf_convert_failed": "llama.cpp 的转换器未能写出 {outtype} 文件；它最后的输出：\n{tail}",
    "export.gguf_quantize_failed": "llama.cpp 的量化器未能生成 {kind} 文件（它的信息在工作室的控制台输出中）",
    "export.gguf_failed": "合并后的模型已保存在 {folder}，但没有生成 GGUF：{error}。可以直接使用合并后的模型，或自行用 llama.cpp 的 convert_hf_to_gguf.py 转换",
    "export.gguf_vocabulary": "llama.cpp 的转换器不能把这个模型的分词器写成 GGUF，因此没有进行合并（llama.cpp 不认识的分词器会被拒绝，例如内置演示模型自造的分词器）；请不带 GGUF 导出。转换器最后的输出：\n{tail}",
    "serve.mixed_targets": "只能提供若干运行文件夹或一个模型，不能混用：{names} 不是运行文件夹（运行文件夹中有 config.yaml）",
    "serve.run_unfinished": "运行 {run} 还没有训练结果（缺少 final/）：请等它完成，或提供另一个运行",
    "serve.same_run_names": "有两个运行的文件夹同名，会成为同一个模型 id：请提供名称不同的运行",
    "serve.one_model": "一次只能提供一个导出、GGUF 文件或模型（多个目标必须都是同一基座的 LoRA 运行文件夹）",
    "serve.no_such_file": "{path} 不存在：请给出 .gguf 文件的路径（“导出”页会生成）",
    "serve.one_prompt": "每个请求只发送一个 prompt（字符串，或只含一项的列表）",
    "serve.unknown_model": "这里没有提供模型 {model!r}；请发送其中之一：{models}（GET /v1/models 会列出）",
    "serve.bad_arguments": "工具调用的参数必须是 JSON 文本；收到的是 {arguments}",
    "serve.key_file_unreadable": "无法读取 --api-key-file {path}：{error}",
    "serve.key_file_lines": "--api-key-file {path} 中只能有密钥本身，占一行",
    "serve.key_required": "在 {host} 上提供服务会让其他机器访问：请用 --api-key-file 文件或 {variable} 变量提供 API 密钥，或在 127.0.0.1 上提供服务",
    "serve.wrong_key": "API 密钥缺失或错误：请以 'Authorization: Bearer KEY' 发送（即 openai 客户端的 api_key）",
    "serve.too_large": "请求超过 {limit} 字节：请发送更短的对话",
    "serve.not_json": "请求正文不是 JSON：{error}",
    "serve.max_tokens": "max_tokens 超过了本服务的上限 {limit}：请减少（或以更大的 --max-tokens 启动服务）",
    "serve.busy": "已有 {limit} 个请求正在处理：请稍后再试",
    "serve.adapters_only": "多个运行只能以 LoRA 适配器的形式共享一个基座：请单独提供全参数微调的运行",
    "serve.backend_cannot": "{backend} 后端无法提供 {kind} 类型的目标：请选择 --backend auto",
    "serve.backend_missing": "此处未安装 {backend} 后端：请安装（llama.cpp：pip install 'llama-cpp-python[server]'）或选择 --backend auto",
    "serve.ready": "正在 {url} 上提供 {models}",
    "config.wrong_type": "{field} 必须是{kind}；现在是 {value}",
    "config.kind.list": "名称列表",
    "config.kind.bool": "是或否",
    "config.kind.int": "整数（例如 8）",
    "config.kind.float": "数字（例如 0.0001 或 1e-4）",
    "config.kind.str": "文本",
    "data.stage_needs_fix": "阶段 {stage} 需要{needs}；{dataset} 是{holds}：请在“数据”页选择含有这类数据的数据集（{fitting}），"
                            "或换用能训练 {dataset} 这类数据的阶段",
    "data.none_registered": "尚未注册：请上传一个",
    "config.empty": "空（输入框没有内容）",
    "template.refuses_rows": "数据集 {dataset}：对话模板（{template}）拒绝了 {total} 行中的 {count} 行（第 {rows} 行）：“{error}”。{advice}",
    "template.system_advice": "这些行都带有系统提示词，而该模板不接受系统提示词。请去掉系统提示词（system 列或 system 轮次），把它并入第一轮用户消息，或在“模型”页换一个模板（model.template；例如 gemma，它会把系统提示词并入第一轮用户消息）",
    "template.rows_advice": "请修正或删除这些行（原因见上面模板给出的说明），或在“模型”页换一个模板（model.template）",
    "speed.attention_model": "注意力：{chosen}（transformers 中 {model} 不支持 {wanted}；它支持 {chosen}）",
    "speed.problem_attention": "注意力内核（speed.attention）为 {name}，而 {model} 不支持它；请设为 auto（自动选择模型支持的实现）"
                               "或以下之一：{accepted}",
    "failure.attention": "{model} 不支持注意力内核 {name}",
    "failure.advice.not_supported": (
        "模型拒绝了一个它不支持的设置（transformers 在加载时报告）。请把注意力内核（speed.attention）设为 auto，"
        "它会选择模型支持的实现（Gemma 2 和 gpt-oss 为 eager），然后重新开始；本次没有训练任何内容。"
    ),
    "method.experts_adapted": "LoRA 也适配融合的专家参数（{names}，通过 peft 的 target_parameters）",
    "method.experts_not_adapted": "LoRA 不改动融合的专家参数（{names}）：DoRA 只能适配线性层，不能适配参数",
    "method.problem_dora_experts": "DoRA（method.use_dora）无法训练 {model}：peft 以参数方式适配它的专家，而参数没有 DoRA；"
                                   "请取消 DoRA",
    "speed.packing_sliding_window": "打包：关闭（模型的滑动窗口层只回看 {window} 个 token，短于一行的 {length} 个："
                                     "打包后会失去窗口限制）",
}
