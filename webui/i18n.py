"""Every piece of text the studio shows, in English and Simplified Chinese.

Config fields take their English help text from the config's own metadata (engine/config/schema.py), so the help
a user reads is the same one `validate()` and the YAML comments are written against; `FIELDS`
(webui/field_texts.py) adds a short English label and the Chinese label and help. Everything else the UI
shows is a key in `TEXT`.

The language switch relabels the page live: each tab registers its labelled components in a `Labels`
registry while it is built, and `Labels.updates(lang)` returns one gr.update per component.
"""
from __future__ import annotations

import gradio as gr

from engine.config.schema import field_info
from engine.messages import Message, render

from webui.field_texts import FIELDS
from webui.messages_zh import MESSAGES_ZH

LANGUAGES = [("English", "en"), ("简体中文", "zh")]
HEADER_KEYS = ("column.", "evaluate.column.")  # TEXT keys of table headers (translated_columns)

# key -> {"en": ..., "zh": ...}
TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "# Finetune Studio", "zh": "# Finetune Studio 微调工作室"},
    "subtitle": {
        "en": "Fine-tune a language model without code: pick data, a model and a method, then press **Start**.",
        "zh": "无需写代码即可微调语言模型：选择数据、模型和方法，然后点击 **开始**。",
    },
    "language": {"en": "Language", "zh": "语言"},
    # tabs
    "tab.data": {"en": "Data", "zh": "数据"},
    "tab.model": {"en": "Model", "zh": "模型"},
    "tab.method": {"en": "Method", "zh": "方法"},
    "tab.train": {"en": "Train", "zh": "训练"},
    "tab.evaluate": {"en": "Evaluate", "zh": "评估"},
    "tab.chat": {"en": "Chat", "zh": "对话"},
    "tab.export": {"en": "Export", "zh": "导出"},
    # data tab
    "data.refresh": {"en": "Refresh list", "zh": "刷新列表"},
    "data.upload_heading": {"en": "### Add a dataset from a file", "zh": "### 从文件添加数据集"},
    "data.upload_file": {"en": "File (.json, .jsonl, .csv, .parquet; .zip: a .json/.jsonl and its pictures)",
                         "zh": "文件（.json、.jsonl、.csv、.parquet；.zip：一个 .json/.jsonl 及其图片）"},
    "data.formatting": {"en": "Format", "zh": "格式"},
    "data.columns": {"en": "**Column mapping**: which column of the file plays each role", "zh": "**列映射**：文件中的哪一列担任每个角色"},
    "data.name": {"en": "Dataset name", "zh": "数据集名称"},
    "data.preview": {"en": "Preview", "zh": "预览"},
    "data.import": {"en": "Add dataset", "zh": "添加数据集"},
    "data.detected": {
        "en": "Detected format **{formatting}** with {confidence} confidence, {rows} rows: {reason}. Wrong? Pick the format above.",
        "zh": "检测到格式 **{formatting}**（置信度 {confidence}），共 {rows} 行：{reason}。不对？请在上方选择格式。",
    },
    "data.imported": {"en": "Added dataset **{name}** ({rows} rows, saved as {file}). It is now selected.", "zh": "已添加数据集 **{name}**（{rows} 行，保存为 {file}），并已选中。"},
    "data.error": {"en": "**Cannot use this file:** {error}", "zh": "**无法使用此文件：** {error}"},
    "data.no_file": {"en": "Choose a file first.", "zh": "请先选择文件。"},
    "data.uploads_missing": {"en": "Uploading needs engine/data/uploads.py, which this install does not have.", "zh": "上传需要 engine/data/uploads.py，当前安装中没有。"},
    "data.inspect_heading": {
        "en": "### See the data as the model sees it\nWith the model and template of the Model tab and the cutoff length of the Train tab.",
        "zh": "### 像模型一样查看数据\n使用“模型”页的模型与模板，以及“训练”页的截断长度。",
    },
    "data.inspect_dataset": {"en": "Dataset to look at and clean", "zh": "要查看和清洗的数据集"},
    "data.inspect": {"en": "Show tokens, lengths and stats", "zh": "显示 token、长度与统计"},
    "data.tokens": {"en": "The row as it will be trained", "zh": "该行在训练时的样子"},
    "data.histogram": {"en": "Token lengths", "zh": "token 长度分布"},
    "data.row": {"en": "Row", "zh": "行号"},
    "data.trained": {"en": "trained", "zh": "训练"},
    "data.masked": {"en": "masked (no loss)", "zh": "屏蔽（不计损失）"},
    "data.token_counts": {
        "en": "Row {row} of {rows}: **{tokens} tokens**, {trained} trained, {masked} masked. Template `{template}`, tokenizer of `{model}`.",
        "zh": "第 {row} 行（共 {rows} 行）：**{tokens} 个 token**，训练 {trained} 个，屏蔽 {masked} 个。模板 `{template}`，分词器来自 `{model}`。",
    },
    "data.truncated": {
        "en": "**{truncated} of {rows} rows would be truncated** at the cutoff length of {cutoff_len} tokens "
              "(tokens per row: mean {mean}, median {median}, 95th percentile {p95}, longest {max}).",
        "zh": "**{rows} 行中有 {truncated} 行会被截断**（截断长度 {cutoff_len} 个 token；每行 token 数：平均 {mean}，"
              "中位数 {median}，95 分位 {p95}，最长 {max}）。",
    },
    "data.stats_heading": {"en": "#### Basic statistics", "zh": "#### 基本统计"},
    "data.stats_rows": {
        "en": "**{rows} rows**. Languages (by script): {languages}. Average length {chars} characters.",
        "zh": "**{rows} 行**。语言（按文字判断）：{languages}。平均长度 {chars} 个字符。",
    },
    "data.stats_turns": {
        "en": "User turns per conversation: min {min}, mean {mean}, max {max}. Average prompt {prompt} characters, average response {response} characters.",
        "zh": "每段对话的用户轮数：最少 {min}，平均 {mean}，最多 {max}。提示词平均 {prompt} 个字符，回复平均 {response} 个字符。",
    },
    "data.pick_dataset": {"en": "Pick a registered dataset first.", "zh": "请先选择一个已注册的数据集。"},
    "data.wrong_kind": {"en": "**{name}** is {kind} data; this view shows {wanted} data.", "zh": "**{name}** 是 {kind} 数据；此处只显示 {wanted} 数据。"},
    "data.view_failed": {"en": "**Cannot show this:** {error}", "zh": "**无法显示：** {error}"},
    "data.packing_off": {"en": "**{reason}**", "zh": "**{reason}**"},
    "data.packing_on": {
        "en": "**Packing: {examples} rows → {rows} packed rows of up to {length} tokens** ({per_row} rows each, "
              "{fill} full). In batches of {batch}: padding {before} → {after} tokens, steps an epoch "
              "{steps_before} → {steps_after}. Each row still attends only to itself.",
        "zh": "**打包：{examples} 行 → {rows} 个打包行，每行最多 {length} 个 token**（平均每行 {per_row} 条，"
              "填充率 {fill}）。每批 {batch} 个：填充 {before} → {after} 个 token，每轮步数 {steps_before} → "
              "{steps_after}。每条样本仍只关注自身。",
    },
    "data.packing_table": {"en": "| packed row | dataset rows in it | tokens |",
                           "zh": "| 打包行 | 其中的数据行 | token 数 |"},
    "data.packing_more": {"en": "{count} more packed rows", "zh": "另有 {count} 个打包行"},
    "data.clean_heading": {
        "en": "### Clean\nTrim whitespace, drop empty, too short, too long and duplicate rows, split off a validation set. The original stays untouched.",
        "zh": "### 清洗\n去除首尾空白，删除空行、过短、过长和重复的行，并划分验证集。原数据集保持不变。",
    },
    "data.trim": {"en": "Trim whitespace", "zh": "去除首尾空白"},
    "data.exact_dedup": {"en": "Remove exact duplicates (instruction + input)", "zh": "删除完全重复（指令 + 输入）"},
    "data.near_dedup": {"en": "Remove near duplicates (case, spacing, punctuation)", "zh": "删除近似重复（大小写、空格、标点）"},
    "data.min_prompt": {"en": "Min instruction characters", "zh": "指令最少字符数"},
    "data.min_response": {"en": "Min output characters", "zh": "输出最少字符数"},
    "data.max_tokens": {"en": "Max tokens per row (0 = no limit)", "zh": "每行最多 token 数（0 = 不限）"},
    "data.validation_ratio": {"en": "Validation share", "zh": "验证集比例"},
    "data.clean_seed": {"en": "Split seed", "zh": "划分随机种子"},
    "data.clean": {"en": "Clean", "zh": "清洗"},
    "data.clean_name": {"en": "Save the cleaned set as", "zh": "清洗结果另存为"},
    "data.save_clean": {"en": "Save as new dataset", "zh": "保存为新数据集"},
    "data.cleaned": {
        "en": "**{source}**: {total} rows; removed **{removed}**, kept {train} for training and {validation} for validation. Removed per reason:",
        "zh": "**{source}**：共 {total} 行；删除 **{removed}** 行，保留 {train} 行用于训练、{validation} 行用于验证。各原因删除的行数：",
    },
    "data.clean_failed": {"en": "**Cannot clean:** {error}", "zh": "**无法清洗：** {error}"},
    "data.clean_first": {"en": "Press Clean first.", "zh": "请先点击“清洗”。"},
    "data.clean_no_name": {"en": "Give the cleaned set a name.", "zh": "请为清洗结果命名。"},
    "data.saved": {
        "en": "Registered **{names}**; **{source}** is unchanged. Where {source} was selected for training, the cleaned set now is.",
        "zh": "已注册 **{names}**；**{source}** 保持不变。若训练数据中选了 {source}，现已换成清洗后的数据集。",
    },
    "reason.invalid row": {"en": "invalid row", "zh": "无效行"},
    "reason.empty or too short": {"en": "empty or too short", "zh": "为空或过短"},
    "reason.over token limit": {"en": "over the token limit", "zh": "超过 token 上限"},
    "reason.exact duplicate": {"en": "exact duplicate", "zh": "完全重复"},
    "reason.near duplicate": {"en": "near duplicate", "zh": "近似重复"},
    # model tab
    "model.remote_code_warning": {
        "en": "⚠️ **Remote code runs with your permissions.** Only tick this for model repositories you trust.",
        "zh": "⚠️ **远程代码会以你的权限运行。** 只对你信任的模型仓库勾选。",
    },
    "model.builtin_note": {
        "en": "ℹ️ **builtin:tiny-demo is a tiny offline demo model** (1.3 M parameters, built on this computer the "
              "first time it is used). It learns the questions it is trained on by heart and then answers them "
              "with their trained answers, but it does not generalise: anything else gets a garbled reply. The "
              "quick demo preset trains it on demo_quick in a few minutes on a CPU. For real use pick a Hub "
              "model or a local folder.",
        "zh": "ℹ️ **builtin:tiny-demo 是一个离线的微型演示模型**（130 万参数，首次使用时在本机构建）。它会把训练过的问题"
              "背下来，之后用训练时的答案原样回答；但它不会举一反三：问别的问题只会得到乱码般的回答。"
              "快速演示预设在 CPU 上几分钟就能让它学会 demo_quick。实际使用请选择 Hub 模型或本地文件夹。",
    },
    # train tab
    "train.start": {"en": "Start", "zh": "开始"},
    "train.stop": {"en": "Stop", "zh": "停止"},
    "train.save_config": {"en": "Save config (YAML)", "zh": "保存配置（YAML）"},
    "train.load_config": {"en": "Load config (YAML)", "zh": "加载配置（YAML）"},
    "train.config_file": {"en": "Config file", "zh": "配置文件"},
    "train.command": {"en": "Equivalent command", "zh": "等效命令行"},
    "train.preview": {"en": "Run config (YAML)", "zh": "运行配置（YAML）"},
    "train.progress": {"en": "Progress", "zh": "进度"},
    "train.curve": {"en": "Loss", "zh": "损失曲线"},
    "train.log": {"en": "Log", "zh": "日志"},
    "train.history": {"en": "Run history (select a row to view it)", "zh": "运行历史（选择一行查看）"},
    "train.refresh_history": {"en": "Refresh history", "zh": "刷新历史"},
    "train.advanced": {"en": "More settings", "zh": "更多设置"},
    "train.problems": {"en": "**Not started; please fix:**", "zh": "**未开始，请先修正：**"},
    "train.started": {"en": "Started run **{name}**.", "zh": "已开始运行 **{name}**。"},
    "train.queued": {"en": "Queued run **{name}**: position {position} in line; it starts when the run training now ends.", "zh": "已排队运行 **{name}**：队列第 {position} 位；当前训练结束后自动开始。"},
    "train.resume": {"en": "Resume", "zh": "继续训练"},
    "train.resumed": {"en": "Resumed run **{name}** from its checkpoint at step {step}.", "zh": "已从第 {step} 步的检查点继续运行 **{name}**。"},
    "train.nothing_to_resume": {"en": "Pick a stopped or failed run to resume.", "zh": "请选择一个已停止或失败的运行以继续训练。"},
    "train.cancelled": {"en": "Cancelled the queued run; it never started.", "zh": "已取消排队中的运行；它尚未开始。"},
    "train.stop_requested": {"en": "Stop requested; the run saves at its next step.", "zh": "已请求停止；将在下一步保存后结束。"},
    "train.nothing_to_stop": {"en": "No run is training.", "zh": "没有正在训练的运行。"},
    "train.loaded": {"en": "Loaded config from {file}.", "zh": "已从 {file} 加载配置。"},
    "train.load_failed": {"en": "**Cannot load this config:**", "zh": "**无法加载此配置：**"},
    "train.loaded_lf": {
        "en": "Loaded the LLaMA-Factory config {file}, converted to the studio's settings:",
        "zh": "已加载 LLaMA-Factory 配置 {file}，并转换为工作室的设置：",
    },
    "train.loaded_lf_merge": {
        "en": "{file} is a LLaMA-Factory merge config: export the run it names in the Export tab, or run {command}",
        "zh": "{file} 是 LLaMA-Factory 的合并配置：请在导出页导出它指定的运行，或运行 {command}",
    },
    "train.no_run": {"en": "No run yet: press Start.", "zh": "还没有运行：点击“开始”。"},
    "train.metrics": {"en": "Stage metrics", "zh": "阶段指标"},
    "memory.title": {"en": "Memory estimate", "zh": "显存估算"},
    "memory.auto": {"en": "Auto-configure for this device", "zh": "按本机自动配置"},
    "memory.part": {"en": "Part", "zh": "组成"},
    "memory.weights": {"en": "Weights", "zh": "权重"},
    "memory.gradients": {"en": "Gradients", "zh": "梯度"},
    "memory.optimizer": {"en": "Optimizer states", "zh": "优化器状态"},
    "memory.activations": {"en": "Activations", "zh": "激活值"},
    "memory.total": {"en": "Total (peak, estimated)", "zh": "合计（峰值估算）"},
    "memory.fits": {"en": "Fits {device} ({available:.1f} GiB available).", "zh": "{device} 放得下（可用 {available:.1f} GiB）。"},
    "memory.too_big": {
        "en": "Does not fit {device} ({available:.1f} GiB available): press Auto-configure, lower the batch size, "
              "enable gradient checkpointing or use 4-bit.",
        "zh": "{device} 放不下（可用 {available:.1f} GiB）：点击自动配置，或减小批大小、开启梯度检查点、使用 4 比特。",
    },
    "memory.unknown": {"en": "No estimate: {reason}", "zh": "无法估算：{reason}"},
    "memory.auto_done": {
        "en": "Fitted to {device}: about {total:.2f} GiB. Changed: {changes}.",
        "zh": "已按 {device} 配置：约 {total:.2f} GiB。改动：{changes}。",
    },
    "train.step": {"en": "step {step}/{total}", "zh": "第 {step}/{total} 步"},
    "train.elapsed": {"en": "elapsed {time}", "zh": "已用 {time}"},
    "train.eta": {"en": "ETA {time}", "zh": "剩余 {time}"},
    "phase.starting": {"en": "starting the worker", "zh": "正在启动训练进程"},
    "phase.build_model": {"en": "building the built-in model (first use only)",
                          "zh": "正在构建内置模型（仅首次使用）"},
    "phase.encode": {"en": "encoding {dataset}: {done}/{total} examples", "zh": "正在编码 {dataset}：{done}/{total} 条"},
    "phase.load_model": {"en": "loading the model", "zh": "正在加载模型"},
    "phase.first_step": {"en": "training the first step", "zh": "正在训练第一步"},
    "train.real_tokens": {"en": "{rate} real tokens/s", "zh": "{rate} 有效词元/秒"},
    "train.padding": {"en": "{share} padding", "zh": "填充占 {share}"},
    "train.speed": {"en": "Speed", "zh": "速度"},
    "status.created": {"en": "created", "zh": "已创建"},
    "status.starting": {"en": "starting", "zh": "启动中"},
    "status.running": {"en": "running", "zh": "训练中"},
    "status.completed": {"en": "completed", "zh": "已完成"},
    "status.stopped": {"en": "stopped", "zh": "已停止"},
    "status.failed": {"en": "failed", "zh": "失败"},
    "status.failed (killed)": {"en": "failed (killed)", "zh": "失败（进程被终止）"},
    "status.failed (out of memory)": {"en": "failed (out of memory)", "zh": "失败（内存不足）"},
    "status.failed (disk full)": {"en": "failed (disk full)", "zh": "失败（磁盘已满）"},
    "status.failed (not writable)": {"en": "failed (not writable)", "zh": "失败（无法写入）"},
    "status.failed (data)": {"en": "failed (data)", "zh": "失败（数据问题）"},
    "status.queued": {"en": "queued", "zh": "排队中"},
    "status.queued_position": {"en": "queued (position {position})", "zh": "排队中（第 {position} 位）"},
    "status.cancelled": {"en": "cancelled", "zh": "已取消"},
    "column.run": {"en": "run", "zh": "运行"},
    "column.model": {"en": "model", "zh": "模型"},
    "column.method": {"en": "method", "zh": "方法"},
    "column.status": {"en": "status", "zh": "状态"},
    "column.step": {"en": "step", "zh": "步数"},
    "column.loss": {"en": "loss", "zh": "损失"},
    "column.started": {"en": "started", "zh": "开始时间"},
    "column.folder": {"en": "folder", "zh": "文件夹"},
    "column.file": {"en": "file", "zh": "文件"},
    "column.size": {"en": "size", "zh": "大小"},
    # shared pickers
    "pick.run": {"en": "Run", "zh": "运行"},
    "pick.source": {"en": "Model to use", "zh": "使用的模型"},
    "pick.base": {"en": "Base model from the Model tab", "zh": "“模型”页中的基础模型"},
    "pick.refresh": {"en": "Refresh", "zh": "刷新"},
    # evaluate tab
    "evaluate.dataset": {"en": "Datasets", "zh": "数据集"},
    "evaluate.max_samples": {"en": "Max samples (0 = all)", "zh": "最大样本数（0 = 全部）"},
    "evaluate.batch_size": {"en": "Batch size", "zh": "批大小"},
    "evaluate.run": {"en": "Evaluate", "zh": "开始评估"},
    "evaluate.result": {
        "en": "**{source}** on **{dataset}**: eval loss **{eval_loss:.4f}**, perplexity **{perplexity:.2f}** ({examples} examples, {tokens} trained tokens).",
        "zh": "**{source}** 在 **{dataset}** 上：评估损失 **{eval_loss:.4f}**，困惑度 **{perplexity:.2f}**（{examples} 条样本，{tokens} 个训练 token）。",
    },
    "evaluate.failed": {"en": "**Evaluation failed:** {error}", "zh": "**评估失败：** {error}"},
    "evaluate.split": {"en": "Split (validation = what the run held out)", "zh": "数据划分（验证集 = 运行训练时留出的样本）"},
    "evaluate.max_new_tokens": {"en": "Max new tokens per reply", "zh": "每条回复最多生成 token 数"},
    "evaluate.generate": {"en": "Generate and score (BLEU-4, ROUGE)", "zh": "生成并评分（BLEU-4、ROUGE）"},
    "evaluate.stop": {"en": "Stop", "zh": "停止"},
    "evaluate.rows": {"en": "Predictions so far", "zh": "已生成的预测"},
    "evaluate.loading": {"en": "Loading the model and measuring the loss…", "zh": "正在加载模型并计算损失……"},
    "evaluate.progress": {"en": "{done} of {total} rows generated · writing to {folder}", "zh": "已生成 {done}/{total} 行 · 写入 {folder}"},
    "evaluate.finished": {
        "en": "Done: {done} of {total} rows · metrics.json and generated_predictions.jsonl in {folder}",
        "zh": "完成：{done}/{total} 行 · metrics.json 与 generated_predictions.jsonl 位于 {folder}",
    },
    "evaluate.stopped": {"en": "Stopped after {done} of {total} rows; what was done is kept.", "zh": "已在 {done}/{total} 行后停止；已完成的部分已保留。"},
    "compare.heading": {
        "en": "### Compare two models on the same prompts\nGreedy replies of both, scored against the label; Δ = second − first.",
        "zh": "### 在相同提示词上比较两个模型\n两者均用贪心解码，与标签对比评分；Δ = 第二个 − 第一个。",
    },
    "compare.a": {"en": "First model", "zh": "第一个模型"},
    "compare.b": {"en": "Second model", "zh": "第二个模型"},
    "compare.run": {"en": "Compare", "zh": "开始比较"},
    "compare.rows": {"en": "Both replies with their scores", "zh": "两者的回复及得分"},
    "compare.progress": {"en": "{done} of {total} prompts answered by both", "zh": "两个模型已回答 {done}/{total} 条提示词"},
    "compare.failed": {"en": "**Comparison failed:** {error}", "zh": "**比较失败：** {error}"},
    "compare.same": {"en": "pick two different models", "zh": "请选择两个不同的模型"},
    # chat tab
    "chat.load": {"en": "Load", "zh": "加载"},
    "chat.loaded": {"en": "Loaded **{label}**. Type a message below.", "zh": "已加载 **{label}**，请在下方输入消息。"},
    "chat.load_failed": {"en": "**Cannot load:** {error}", "zh": "**无法加载：** {error}"},
    "chat.not_loaded": {"en": "Load a model first.", "zh": "请先加载模型。"},
    "chat.system": {"en": "System prompt", "zh": "系统提示词"},
    "chat.message": {"en": "Message", "zh": "消息"},
    "chat.send": {"en": "Send", "zh": "发送"},
    "chat.clear": {"en": "Clear", "zh": "清空"},
    "chat.chatbot": {"en": "Conversation", "zh": "对话"},
    "chat.max_new_tokens": {"en": "Max new tokens", "zh": "最大生成 token 数"},
    "chat.temperature": {"en": "Temperature (0 = greedy)", "zh": "温度（0 = 贪心）"},
    "chat.top_p": {"en": "Top-p", "zh": "Top-p"},
    "chat.second": {"en": "Side by side with (optional)", "zh": "并排对比（可选）"},
    "chat.none": {"en": "Nobody: a single chat", "zh": "无：单独对话"},
    "chat.chatbot_b": {"en": "Second model", "zh": "第二个模型"},
    "chat.stop": {"en": "Stop", "zh": "停止"},
    "chat.reply_failed": {"en": "The reply failed: {error}", "zh": "回复失败：{error}"},
    "chat.tools": {
        "en": "Tools (JSON list of function schemas, optional)", "zh": "工具（函数定义的 JSON 列表，可选）",
    },
    "chat.as_tool": {
        "en": "Send as the tool's answer (observation)", "zh": "作为工具的返回发送（observation）",
    },
    "chat.tools_invalid": {"en": "The tools are not valid JSON: {error}", "zh": "工具不是有效的 JSON：{error}"},
    "chat.tool_calls": {"en": "The model called: {calls}", "zh": "模型调用了：{calls}"},
    # export tab
    "export.run": {"en": "Merge and export", "zh": "合并并导出"},
    "export.done": {"en": "Exported to `{folder}` ({size}, {count} files).", "zh": "已导出到 `{folder}`（{size}，{count} 个文件）。"},
    "export.failed": {"en": "**Export failed:** {error}", "zh": "**导出失败：** {error}"},
    "export.no_run": {"en": "Pick a finished run first.", "zh": "请先选择一个已完成的运行。"},
    "export.files": {"en": "Files", "zh": "文件"},
    "export.adapter_only": {"en": "Adapter only (no merge)", "zh": "仅导出适配器（不合并）"},
    "export.gguf": {"en": "Also write GGUF (llama.cpp, Ollama)", "zh": "同时生成 GGUF（llama.cpp、Ollama）"},
    "export.verify": {"en": "Check the GGUF in llama.cpp", "zh": "用 llama.cpp 检查 GGUF"},
    "export.working": {"en": "Exporting… (merging the adapter and writing the files)", "zh": "正在导出……（合并适配器并写入文件）"},
    "export.verifying": {"en": "Checking the GGUF files in llama.cpp…", "zh": "正在用 llama.cpp 检查 GGUF 文件……"},
    "export.verified": {
        "en": "**Checked:** {runtime} loaded `{file}`: greedy decoding gives the same first {tokens} tokens as transformers on {matching} of {prompts} prompts.",
        "zh": "**已检查：** {runtime} 已加载 `{file}`：贪心解码的前 {tokens} 个 token 在 {matching}/{prompts} 条提示词上与 transformers 相同。",
    },
    "export.verified_partly": {
        "en": "**Checked, partly matching:** {runtime} loaded `{file}`; the same first {tokens} tokens as transformers on {matching} of {prompts} prompts "
              "(tokens agreeing per prompt: {agreed}; quantised weights can part after a few tokens).",
        "zh": "**已检查，部分一致：** {runtime} 已加载 `{file}`；前 {tokens} 个 token 在 {matching}/{prompts} 条提示词上与 transformers 相同"
              "（每条提示词一致的 token 数：{agreed}；量化权重可能在几个 token 后出现分歧）。",
    },
    "export.no_llama_cpp": {
        "en": "The GGUF files were written but not checked: llama-cpp-python is not installed (pip install llama-cpp-python).",
        "zh": "GGUF 文件已写入但未检查：未安装 llama-cpp-python（pip install llama-cpp-python）。",
    },
    "export.verify_failed": {"en": "**Not verified:** llama.cpp could not run `{file}`: {error}", "zh": "**未通过检查：** llama.cpp 无法运行 `{file}`：{error}"},
    # -- devices: several processes and machines --
    "devices.title": {"en": "Devices", "zh": "设备"},
    "devices.gpus": {"en": "This machine: {gpus} GPU(s), {cores} CPU cores.", "zh": "本机：{gpus} 块 GPU，{cores} 个 CPU 核。"},
    "devices.cpu_only": {
        "en": "This machine: no GPU, {cores} CPU cores. Several processes train over gloo with DDP; FSDP and DeepSpeed need GPUs.",
        "zh": "本机：没有 GPU，{cores} 个 CPU 核。多个进程可通过 gloo 以 DDP 训练；FSDP 和 DeepSpeed 需要 GPU。",
    },
    "devices.plan": {
        "en": "{processes} process(es) × {nodes} machine(s) = world size {world}; strategy **{strategy}**.",
        "zh": "{processes} 个进程 × {nodes} 台机器 = 共 {world} 个进程；策略 **{strategy}**。",
    },
    "devices.nodes_note": {
        "en": "On several machines, Start runs this machine's part; the run view then shows the command for every node, and `python -m engine train CONFIG --plan` writes a Slurm script.",
        "zh": "多机训练时，“开始”只运行本机的部分；随后运行视图会给出每个节点要运行的命令，`python -m engine train CONFIG --plan` 会生成 Slurm 脚本。",
    },
    "devices.ranks": {"en": "world size {world}", "zh": "共 {world} 个进程"},
    "devices.rank": {"en": "rank {rank}: {status}", "zh": "第 {rank} 号：{status}"},
    "memory.offloaded": {"en": "Offloaded to CPU memory", "zh": "卸载到 CPU 内存"},
    "memory.strategy_fits": {
        "en": "Spread over {world} processes it fits with strategy **{strategy}**{offload}.",
        "zh": "分布到 {world} 个进程时，使用 **{strategy}** 策略{offload}即可放下。",
    },
    "memory.with_offload": {"en": " and offload ({parts})", "zh": "并卸载（{parts}）"},
    "chat.images": {"en": "Images for this message (vision models)", "zh": "本条消息的图片（视觉模型）"},
    # Comparing runs (webui/compare_panel.py)
    "experiments.title": {"en": "Compare runs", "zh": "对比运行"},
    "experiments.runs": {"en": "Runs to compare (2–6)", "zh": "要对比的运行（2–6 个）"},
    "experiments.x": {"en": "x axis", "zh": "横轴"},
    "experiments.x.step": {"en": "step", "zh": "步数"},
    "experiments.x.tokens": {"en": "tokens seen", "zh": "已见 token 数"},
    "experiments.smoothing": {"en": "Smoothing (EMA)", "zh": "平滑（EMA）"},
    "experiments.log_scale": {"en": "Log scale", "zh": "对数坐标"},
    "experiments.button": {"en": "Compare", "zh": "对比"},
    "experiments.curve": {"en": "Loss of the compared runs", "zh": "所选运行的损失"},
    "experiments.diff": {"en": "Config fields that differ", "zh": "不同的配置项"},
    "experiments.metrics": {"en": "Final metrics", "zh": "最终指标"},
    "experiments.pick": {"en": "Pick 2 to 6 runs to compare.", "zh": "请选择 2 到 6 个运行进行对比。"},
    "experiments.same_config": {"en": "The configs of these runs are the same.", "zh": "这些运行的配置相同。"},
    "experiments.column.field": {"en": "field", "zh": "配置项"},
    "experiments.column.metric": {"en": "metric", "zh": "指标"},
    "experiments.series.train": {"en": "train", "zh": "训练"},
    "experiments.series.eval": {"en": "eval", "zh": "验证"},
    "experiments.loss": {"en": "loss", "zh": "损失"},
    "metric.train_loss": {"en": "train loss", "zh": "训练损失"},
    "metric.eval_loss": {"en": "eval loss", "zh": "验证损失"},
    "metric.perplexity": {"en": "perplexity", "zh": "困惑度"},
    "metric.tokens_per_s": {"en": "tokens/s", "zh": "token/秒"},
    "metric.peak_memory_mb": {"en": "peak memory (MB)", "zh": "峰值内存（MB）"},
    "metric.wall_time_s": {"en": "wall time (s)", "zh": "耗时（秒）"},
    "metric.trainable_params": {"en": "trainable parameters", "zh": "可训练参数"},
    "metric.steps": {"en": "steps", "zh": "步数"},
    "metric.blind_win_rate": {"en": "blind win rate [95% CI]", "zh": "盲评胜率 [95% 置信区间]"},
    # Blind A/B judging (webui/judging_panel.py)
    "judge.start": {"en": "Judge these replies blind", "zh": "盲评这些回答"},
    "judge.reply_first": {"en": "Reply 1", "zh": "回答 1"},
    "judge.reply_second": {"en": "Reply 2", "zh": "回答 2"},
    "judge.first": {"en": "1 is better (key 1)", "zh": "1 更好（按键 1）"},
    "judge.second": {"en": "2 is better (key 2)", "zh": "2 更好（按键 2）"},
    "judge.tie": {"en": "Tie (key T)", "zh": "平手（按键 T）"},
    "judge.nothing": {"en": "Compare two models above first; their replies are what you judge.", "zh": "请先在上方对比两个模型；评判的就是它们的回答。"},
    "judge.needs_run": {"en": "Blind judging needs a run on at least one side: the judgements are saved in its folder.", "zh": "盲评需要至少一侧是训练运行：评判结果保存在该运行的文件夹中。"},
    "judge.progress": {"en": "Prompt {done} of {total} judged. Which reply is better? The order is random and hidden.", "zh": "已评 {done}/{total} 条。哪个回答更好？顺序随机且隐藏。"},
    "judge.result": {"en": "**{run}** against **{other}**: win rate {result}", "zh": "**{run}** 对比 **{other}**：胜率 {result}"},
    # The run view's loss curve (webui/run_view.py loss_curve)
    "curve.train": {"en": "train loss", "zh": "训练损失"},
    "curve.smoothed": {"en": "train loss (EMA)", "zh": "训练损失（EMA 平滑）"},
    "curve.eval": {"en": "eval loss", "zh": "验证损失"},
    "curve.legend": {"en": "curve", "zh": "曲线"},
    "curve.loss": {"en": "loss", "zh": "损失"},
    "curve.log_loss": {"en": "log₁₀ loss", "zh": "log₁₀ 损失"},
    "curve.empty": {"en": "No data yet: the loss curve appears here once a run logs its first step.",
                    "zh": "暂无数据：运行记录第一步后，损失曲线会显示在这里。"},
    # hardening: runs whose files are damaged, runs whose training diverged
    "status.failed (damaged)": {"en": "failed (damaged files)", "zh": "失败（运行文件已损坏）"},
    "status.failed (not finite)": {"en": "failed (loss became NaN)", "zh": "失败（损失变为 NaN）"},
    # data tab: one column-mapping dropdown per role (webui/tabs/data.py ROLES)
    "data.role.prompt": {"en": "Instruction", "zh": "指令"},
    "data.role.query": {"en": "Input", "zh": "输入"},
    "data.role.response": {"en": "Output", "zh": "输出"},
    "data.role.messages": {"en": "Conversation", "zh": "对话"},
    "data.role.chosen": {"en": "Chosen answer", "zh": "较好的回答"},
    "data.role.rejected": {"en": "Rejected answer", "zh": "较差的回答"},
    "data.role.kto_tag": {"en": "Good/bad label", "zh": "好/坏标签"},
    "data.role.system": {"en": "System prompt", "zh": "系统提示词"},
    "data.role.history": {"en": "History", "zh": "历史对话"},
    "data.role.images": {"en": "Images", "zh": "图片"},
    # the page header: what Start would train, and going back to the preset (webui/page_state.py)
    "summary": {"en": "**Will train:** {model} · template {template} · {method} · stage {stage} · {datasets} · {device}",
                "zh": "**将要训练：** {model} · 模板 {template} · {method} · 阶段 {stage} · {datasets} · {device}"},
    "reset": {"en": "Reset to defaults", "zh": "恢复默认设置"},
    "summary.rows": {"en": "{name} ({rows} rows)", "zh": "{name}（{rows} 行）"},
    # evaluate tab: table headers and split choices
    "evaluate.metric_header": {"en": "| metric | value |", "zh": "| 指标 | 数值 |"},
    "evaluate.eval_loss": {"en": "eval loss", "zh": "验证损失"},
    "evaluate.perplexity": {"en": "perplexity", "zh": "困惑度"},
    "evaluate.column.prompt": {"en": "prompt", "zh": "提示词"},
    "evaluate.column.label": {"en": "label", "zh": "参考答案"},
    "evaluate.column.prediction": {"en": "prediction", "zh": "模型回答"},
    "evaluate.split.all": {"en": "all rows", "zh": "全部数据"},
    "evaluate.split.validation": {"en": "validation split", "zh": "验证集"},
    # train tab: the readable log (webui/run_view.py)
    "log.step": {"en": "step {step}/{total} · loss {loss} · lr {lr} · {speed} tokens/s",
                 "zh": "第 {step}/{total} 步 · 损失 {loss} · 学习率 {lr} · {speed} token/秒"},
    "log.eval": {"en": "step {step} · eval loss {loss}", "zh": "第 {step} 步 · 验证损失 {loss}"},
    "train.raw_log": {"en": "Raw log (train.log)", "zh": "原始日志（train.log）"},
    # after a run completes (webui/next_steps.py)
    "next.heading": {"en": "**Training finished.** Next:", "zh": "**训练完成。** 下一步："},
    "next.evaluate": {"en": "Evaluate this run", "zh": "评估这次运行"},
    "next.chat": {"en": "Chat with this run", "zh": "和这次运行对话"},
    "next.export": {"en": "Export this run", "zh": "导出这次运行"},
    "export.no_runs": {"en": "No finished run yet: train one in the Train tab, then pick it here.",
                       "zh": "还没有已完成的运行：请先在“训练”页训练一次，再到这里选择。"},
    # the run history: notes, tags, archive, delete (webui/history_panel.py)
    "history.search": {"en": "Search (name, model, note, tag)", "zh": "搜索（名称、模型、备注、标签）"},
    "history.tag": {"en": "Tag", "zh": "标签"},
    "history.all_tags": {"en": "any tag", "zh": "任意标签"},
    "history.show_archived": {"en": "Show archived", "zh": "显示已归档"},
    "history.archived_mark": {"en": " · archived", "zh": " · 已归档"},
    "history.editing": {"en": "**{run}**: note, tags, archive, delete", "zh": "**{run}**：备注、标签、归档、删除"},
    "history.note": {"en": "Note", "zh": "备注"},
    "history.tags": {"en": "Tags (comma-separated)", "zh": "标签（用逗号分隔）"},
    "history.save": {"en": "Save note and tags", "zh": "保存备注和标签"},
    "history.archive": {"en": "Archive", "zh": "归档"},
    "history.unarchive": {"en": "Unarchive", "zh": "取消归档"},
    "history.delete": {"en": "Delete run…", "zh": "删除运行…"},
    "history.delete_yes": {"en": "Yes, delete it", "zh": "确认删除"},
    "history.delete_no": {"en": "Cancel", "zh": "取消"},
    "history.delete_question": {
        "en": "Delete run **{run}** and all its files ({size})? This cannot be undone.",
        "zh": "删除运行 **{run}** 及其全部文件（{size}）？此操作无法撤销。",
    },
    "history.saved": {"en": "Saved the note and tags of {run}.", "zh": "已保存 {run} 的备注和标签。"},
    "history.archived": {
        "en": "{run} is archived: hidden from the history (tick Show archived to see it); its files are kept.",
        "zh": "{run} 已归档：不再显示在历史中（勾选“显示已归档”可见），文件保留。",
    },
    "history.unarchived": {"en": "{run} is back in the history.", "zh": "{run} 已回到历史中。"},
    "history.deleted": {"en": "Deleted run {run} and its files.", "zh": "已删除运行 {run} 及其文件。"},
    "column.tags": {"en": "tags", "zh": "标签"},
    "column.note": {"en": "note", "zh": "备注"},
    "experiments.notes": {"en": "Notes", "zh": "备注"},
    # the run view's resources over time (webui/run_view.py resource_curves)
    "resources.memory": {"en": "Memory (MB) over steps", "zh": "内存（MB）随步数变化"},
    "resources.use": {"en": "Utilisation (%) over steps", "zh": "利用率（%）随步数变化"},
    "resources.cpu_rss": {"en": "CPU resident memory", "zh": "CPU 常驻内存"},
    "resources.cpu_percent": {"en": "CPU use", "zh": "CPU 使用率"},
    "resources.gpu_allocated_mb": {"en": "GPU{device} allocated", "zh": "GPU{device} 已分配"},
    "resources.gpu_reserved_mb": {"en": "GPU{device} reserved", "zh": "GPU{device} 已预留"},
    "resources.gpu_peak_mb": {"en": "GPU{device} peak", "zh": "GPU{device} 峰值"},
    "resources.gpu_percent": {"en": "GPU{device} use", "zh": "GPU{device} 使用率"},
    "resources.legend": {"en": "series", "zh": "曲线"},
    # what the server's gate answers (webui/gate.py) and the login page's note
    "gate.login_required": {"en": "Log in first: this studio needs its password.",
                            "zh": "请先登录：此工作室需要密码。"},
    "gate.wait": {"en": "Too many wrong passwords from this address: try again in {seconds} s.",
                  "zh": "此地址输错密码次数过多：请在 {seconds} 秒后再试。"},
    "gate.upload_length": {"en": "An upload must say its size (Content-Length) before it is sent.",
                           "zh": "上传必须先声明大小（Content-Length）。"},
    "gate.upload_budget": {
        "en": "The upload folder holds {used} MB of its {budget} MB: import or remove earlier uploads, or wait "
              "until old ones are cleared (after two hours).",
        "zh": "上传文件夹已占用 {used} MB（上限 {budget} MB）：请先导入或移除之前的上传，或等待旧文件被清理（两小时后）。"},
    "gate.upload_disk": {"en": "Only {free} MB are free on the disk: this upload would fill it.",
                         "zh": "磁盘只剩 {free} MB 可用空间：这次上传会把它占满。"},
    "gate.login_note": {
        "en": "After 3 wrong passwords, each further try from the same address waits twice as long as the last.",
        "zh": "输错 3 次密码后，同一地址的每次重试需要等待的时间是上一次的两倍。"},
    # Data tab: placeholders (engine/data/placeholders.py)
    "data.placeholders_heading": {"en": "### Fill placeholders", "zh": "### 填写占位符"},
    "data.placeholders_find": {"en": "Find placeholders", "zh": "查找占位符"},
    "data.placeholders_values": {"en": "Values, one per line (name=value)", "zh": "取值，每行一个（名称=值）"},
    "data.placeholders_name": {"en": "Save the filled copy as", "zh": "填写后的副本另存为"},
    "data.placeholders_save": {"en": "Fill and save as new dataset", "zh": "填写并保存为新数据集"},
    "data.placeholders_found": {
        "en": "{dataset}: {rows} rows hold {names}. Give each a value below.",
        "zh": "{dataset}：{rows} 行含有 {names}。请在下面为每个占位符填写值。",
    },
    "data.placeholders_none": {"en": "{dataset} holds no {{{{...}}}} placeholders.",
                               "zh": "{dataset} 中没有 {{{{...}}}} 占位符。"},
    # vision-language data (webui/tabs/data.py, data_inspect.py)
    "data.thumbnails": {"en": "Pictures of the first rows", "zh": "前几行的图片"},
    "data.image_tokens": {"en": "picture (masked)", "zh": "图片（屏蔽）"},
    "data.view_needs_vision_model": {
        "en": "{dataset} has pictures: pick a vision model in the Model tab (e.g. builtin:tiny-vlm) to see its tokens; "
              "{model} reads text only",
        "zh": "{dataset} 含有图片：请在“模型”页选择视觉模型（例如 builtin:tiny-vlm）来查看其词元；{model} 只能读取文本"},
}


def text(key: str, lang: str, **values) -> str:
    """TEXT[key] in `lang` with `values` filled in; an engine message among them (or an error that carries one,
    as the engine raises them) is put in `lang` too."""
    entry = TEXT[key]
    template = entry.get(lang) or entry["en"]
    return template.format(**{name: _in_language(value, lang) for name, value in values.items()}) if values \
        else template


def _in_language(value, lang: str):
    if isinstance(value, BaseException) and value.args and isinstance(value.args[0], Message):
        value = value.args[0]
    if isinstance(value, BaseException) and lang == "zh":  # a library's own words: quoted as such, as they are
        return f"「{value}」"
    return localize(value, lang) if isinstance(value, Message) else value


def localize(message, lang: str) -> str:
    """An engine message in `lang`: a `Message` by its code (English stays as the engine wrote it), any
    other text as it is."""
    if lang == "zh" and isinstance(message, Message):
        return render(MESSAGES_ZH[message.code], message.params, MESSAGES_ZH)
    return str(message)


def translated_columns(table, lang: str):
    """`table` (a pandas DataFrame) with the headers that are studio words ("column.*" and "evaluate.column.*"
    keys of TEXT, in either language) in `lang`; other headers, and the rows, as they are."""
    words = {value: entry[lang] for key, entry in TEXT.items() if key.startswith(HEADER_KEYS) for value in entry.values()}
    return table.rename(columns=lambda header: words.get(header, header))


def field_label(dotted: str, lang: str) -> str:
    labels = FIELDS.get(dotted)
    if labels is None:  # a field added to the config after this table: still usable, in English
        return dotted.split(".")[1].replace("_", " ").capitalize()
    return labels[1] if lang == "zh" else labels[0]


def field_help(dotted: str, lang: str) -> str:
    labels = FIELDS.get(dotted)
    return labels[2] if lang == "zh" and labels else field_info(dotted)["help"]


# ---------------------------------------------------------------------------------------------------------
# Live relabelling


class Labels:
    """Components whose text depends on the language, with the key each one reads; filled while building.

    The helpers create a component already showing the text of the page's starting language.
    """

    def __init__(self, lang: str):
        self.lang = lang
        self.entries: list[tuple[object, str]] = []

    def add(self, component, key: str):
        """Register `component` under a TEXT key, or under "field:<dotted>" for a config control."""
        self.entries.append((component, key))
        return component

    def button(self, key: str, **options) -> gr.Button:
        return self.add(gr.Button(text(key, self.lang), **options), key)

    def markdown(self, key: str, **options) -> gr.Markdown:
        return self.add(gr.Markdown(text(key, self.lang), **options), key)

    def tab(self, key: str, **options) -> gr.Tab:
        return self.add(gr.Tab(text(key, self.lang), **options), key)

    def labelled(self, kind, key: str, **options):
        """Any component with a `label` (Textbox, Dropdown, Plot, UploadButton, ...)."""
        return self.add(kind(label=text(key, self.lang), **options), key)

    def field(self, kind, dotted: str, **options):
        """A control labelled like config field `dotted` but not bound to it (a one-off action's parameter)."""
        labelled = kind(label=field_label(dotted, self.lang), info=field_help(dotted, self.lang), **options)
        return self.add(labelled, f"field:{dotted}")

    @property
    def components(self) -> list:
        return [component for component, _ in self.entries]

    def updates(self, lang: str) -> list:
        return [relabel(component, key, lang) for component, key in self.entries]


def relabel(component, key: str, lang: str):
    """The gr.update that shows `component` in `lang`: buttons and markdown change their value, others their label."""
    if key.startswith("field:"):
        dotted = key.removeprefix("field:")
        return gr.update(label=field_label(dotted, lang), info=field_help(dotted, lang))
    if isinstance(component, (gr.Button, gr.Markdown)):
        return gr.update(value=text(key, lang))
    return gr.update(label=text(key, lang))
