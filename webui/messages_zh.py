"""The Simplified Chinese of every engine message code (engine/messages.py holds the English).

Keyed by code; each text uses exactly the placeholders of its English template (a test checks both).
"""

MESSAGES_ZH: dict[str, str] = {
}
