from __future__ import annotations

import pytest

from blacksoil.tokens.prompt import PREAMBLE, StopMatcher, render_chat
from blacksoil.tokens.types import ChatMessage


def _msgs(*pairs: tuple[str, str]) -> list[ChatMessage]:
    return [ChatMessage(role=role, content=text) for role, text in pairs]  # type: ignore[arg-type]


def test_render_chat_transcript() -> None:
    text = render_chat(_msgs(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello."), ("user", "Bye")))
    assert text == "Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:"
    assert render_chat(_msgs(("user", "Hi"))).startswith(PREAMBLE)


def test_render_chat_text_parts() -> None:
    message = ChatMessage.model_validate(
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}],
        }
    )
    assert render_chat([message]).endswith("User: ab\nAssistant:")


def _run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = ""
    for piece in pieces:
        out += matcher.push(piece)
        if matcher.stopped:
            return out, True
    return out + matcher.flush(), False


@pytest.mark.parametrize(
    ("stops", "pieces", "expected", "stopped"),
    [
        ([], ["a", "b"], "ab", False),
        (["END"], ["hello E", "N", "D tail"], "hello ", True),
        (["END"], ["hello E", "N", "x"], "hello ENx", False),
        (["\nUser:"], ["Paris.", "\n", "User", ":"], "Paris.", True),
        (["ab", "b"], ["xab"], "x", True),
        (["stop"], ["no", " st", "o"], "no sto", False),
    ],
)
def test_stop_matcher(stops: list[str], pieces: list[str], expected: str, stopped: bool) -> None:
    assert _run(stops, pieces) == (expected, stopped)


def test_stop_matcher_holds_back_only_possible_prefixes() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.push("abc S") == "abc "
    assert matcher.push("x") == "Sx"
