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
}
