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
}
