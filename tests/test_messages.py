"""engine/messages.py: every code speaks English and Simplified Chinese with the same parameters."""
import pickle

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
        assert "engine/messages.py" in str(err)
    else:
        raise AssertionError("an unknown code must not become a message")
