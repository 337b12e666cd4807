"""engine/messages/: every code speaks English and Simplified Chinese with the same parameters."""
import json
import pickle
import re

from engine.messages import ENGLISH, Message, from_dict, placeholders, say
from webui.i18n import localize
from webui.messages_zh import MESSAGES_ZH


def test_every_code_has_chinese_with_the_same_placeholders():
    assert set(ENGLISH) == set(MESSAGES_ZH), (sorted(set(ENGLISH) ^ set(MESSAGES_ZH)))
    for code, english in ENGLISH.items():
        assert placeholders(MESSAGES_ZH[code]) == placeholders(english), code


def test_a_message_is_its_english_text_and_keeps_its_code(monkeypatch):
    monkeypatch.setitem(ENGLISH, "test.greeting", "hello {name}, {inner}")
    monkeypatch.setitem(ENGLISH, "test.inner", "{count} rows")
    monkeypatch.setitem(MESSAGES_ZH, "test.greeting", "你好 {name}，{inner}")
    monkeypatch.setitem(MESSAGES_ZH, "test.inner", "{count} 行")
    message = say("test.greeting", name="Ann", inner=say("test.inner", count=3))
    assert message == "hello Ann, 3 rows" and message.code == "test.greeting"
    assert localize(message, "zh") == "你好 Ann，3 行" and localize(message, "en") == message
    assert from_dict(message.as_dict()) == message and from_dict(message.as_dict()).code == "test.greeting"
    assert pickle.loads(pickle.dumps(message)).params["inner"].code == "test.inner"
    assert localize("plain text", "zh") == "plain text"


def test_an_unknown_code_is_refused():
    try:
        Message("no.such.code")
    except KeyError as err:
        assert "engine/messages/english.py" in str(err)
    else:
        raise AssertionError("an unknown code must not become a message")


def test_no_chinese_text_keeps_an_english_sentence():
    for code, chinese in MESSAGES_ZH.items():
        plain = re.sub(r"`[^`]*`|'[^']*'|\{[^}]*\}", " ", chinese)  # code, quoted names, placeholders
        assert not re.search(r"[A-Za-z]{2,}(?:[ ,;:/()-]+[A-Za-z]{2,}){3,}", plain), (code, chinese)


def test_a_check_report_speaks_chinese_line_by_line(tmp_path):
    from engine.data.checker import check_file

    path = tmp_path / "问答.json"
    rows = [{"instruction": "你好", "output": "你好！"}, {"instruction": "q", "output": 5}]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    lines = [localize(line, "zh") for line in check_file(path).lines()]
    assert lines[0] == "问答.json：2 行，格式 alpaca（置信度 100%）"
    assert lines[1] == "  2 行中有 2 行包含 instruction/output 字段；看起来是 alpaca"
    assert lines[2:] == ["不能使用：1 个问题", "  - 第 2 行，字段 'output'：必须是文本，但现在是数字"]
    assert check_file(path).render().splitlines()[-1] == "  - row 2, field 'output': must be text, but is a number"

