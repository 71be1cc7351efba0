"""Prompt formatting for the embedded base model, and stop-sequence handling for streamed text.

The embedded model is Gemma 3 270M *pre-trained* (a base model, not instruction-tuned). It does not
follow Gemma's chat-turn markers (it repeats the question), but it continues a plain transcript
well, so chat messages are rendered as::

    <system text, or a one-line preamble>

    User: <message>
    Assistant: <message>
    User: <message>
    Assistant:

and generation also stops where the model starts the next ``User:`` line. Expect a small base
model's answers: fluent and short, often wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from blacksoil.tokens.types import ChatMessage

PREAMBLE = "A conversation between a user and a helpful, concise assistant."
CHAT_STOPS = ("\nUser:",)
_SPEAKER = {"user": "User", "assistant": "Assistant", "tool": "Tool", "function": "Tool"}


def render_chat(messages: Sequence[ChatMessage]) -> str:
    """A plain transcript ending with an open ``Assistant:`` line for the answer."""
    system = "\n".join(m.text().strip() for m in messages if m.role in ("system", "developer"))
    lines = [system or PREAMBLE, ""]
    for message in messages:
        if message.role not in ("system", "developer"):
            lines.append(f"{_SPEAKER[message.role]}: {message.text().strip()}")
    lines.append("Assistant:")
    return "\n".join(lines)


class StopMatcher:
    """Cut streamed text at the first stop sequence, holding back only what could start one.

    ``push(text)`` returns the text that is safe to emit now; ``stopped`` turns true once a stop
    sequence is seen (the sequence itself is never emitted); ``flush()`` returns what was held back
    when the generation ends for another reason.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self._pending = ""
        self.stopped = False

    def push(self, text: str) -> str:
        if not self.stops:
            return text
        self._pending += text
        cut = min((i for i in (self._pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self._pending = self._pending[:cut], ""
            return out
        hold = self._partial_suffix()
        out = self._pending[: len(self._pending) - hold]
        self._pending = self._pending[len(out) :]
        return out

    def flush(self) -> str:
        out, self._pending = self._pending, ""
        return out

    def _partial_suffix(self) -> int:
        """Length of the longest suffix of the pending text that is a proper prefix of a stop."""
        best = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(self._pending)), best, -1):
                if self._pending.endswith(stop[:k]):
                    best = k
                    break
        return best
