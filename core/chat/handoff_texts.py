"""What the end user is told about a request for a person, in Chinese and English."""

from __future__ import annotations

from core.chat.branding import language

REQUEST = {"zh": "转人工", "en": "Talk to a person"}
QUEUED = {
    "zh": "正在为您转接人工客服，您前面还有 {ahead} 位。",
    "en": "Connecting you to a person. {ahead} ahead of you.",
}
ASSIGNED = {"zh": "客服 {name} 为您服务。", "en": "{name} has joined the chat."}
UNAVAILABLE = {
    "zh": "现在没有人工客服在线。您可以留言，我们会尽快联系您。",
    "en": "Nobody is available right now. Leave a message and we will get back to you.",
}
RETURNED = {
    "zh": "人工客服已结束接待，智能助手继续为您服务。",
    "en": "The agent has handed you back to the assistant.",
}
LEFT = {"zh": "留言已收到，我们会尽快联系您。", "en": "Thanks, we got your message."}


def _lang(locale: str | None) -> str:
    return language(locale or "zh-CN")


def queued_text(locale: str | None, position: int) -> str:
    return QUEUED[_lang(locale)].format(ahead=max(position - 1, 0))


def assigned_text(locale: str | None, name: str) -> str:
    return ASSIGNED[_lang(locale)].format(name=name)


def unavailable_text(locale: str | None) -> str:
    return UNAVAILABLE[_lang(locale)]


def returned_text(locale: str | None) -> str:
    return RETURNED[_lang(locale)]


def request_text(locale: str | None) -> str:
    return REQUEST[_lang(locale)]
