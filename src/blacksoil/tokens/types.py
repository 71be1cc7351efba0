"""What crosses the token plane's boundary.

Requests are validated once, at the edge, into the models below (OpenAI's request shapes with
their documented ranges). Fields we do not model are kept (``extra="allow"``) and forwarded to
upstream engines untouched, so engine-specific knobs such as vLLM's ``top_k`` still work.

Responses and stream chunks keep OpenAI's wire shape; they are described here as TypedDicts so
the gateway can forward them without building and re-serialising an object per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(_Open):
    type: str
    text: str | None = None


class ChatMessage(_Open):
    role: Role
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's text: a string, or the concatenated text parts."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(_Open):
    include_usage: bool = False


class _SamplingParams(_Open):
    model: str = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    seed: int | None = None
    n: int | None = Field(None, ge=1, le=1, description="Only one choice per request is supported.")
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _check_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s]

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_SamplingParams):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_SamplingParams):
    prompt: str | list[str]
    echo: bool = False
    suffix: str | None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError(f"exactly one prompt per request is supported (got a list of {len(value)})")
        return value

    @property
    def token_limit(self) -> int | None:
        return self.max_tokens

    @property
    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class EmbeddingRequest(_Open):
    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None

    @model_validator(mode="after")
    def _non_empty(self) -> EmbeddingRequest:
        if isinstance(self.input, list) and not self.input:
            raise ValueError("input must not be an empty list")
        if self.input == "":
            raise ValueError("input must not be an empty string")
        return self


Kind = Literal["chat", "completion"]


@dataclass(slots=True)
class GenerationRequest:
    """One validated generation call as the gateway hands it to a replica's engine."""

    kind: Kind
    params: ChatCompletionRequest | CompletionRequest
    body: dict[str, Any]
    """The JSON body as the client sent it; upstream engines forward it with ``model`` replaced."""
    request_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Chunk(TypedDict):
    """A ``chat.completion.chunk`` or streamed ``text_completion`` object."""

    id: str
    object: str
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: NotRequired[Usage | None]


Batch = list[Chunk]
"""The chunks that arrived together. Streams move in batches so that a burst of tokens costs one
pass through the gateway and one socket write, not one per token; nothing waits to fill a batch."""


class Completion(TypedDict):
    """A ``chat.completion`` or ``text_completion`` object."""

    id: str
    object: str
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: Usage


@dataclass(frozen=True, slots=True)
class ModelCard:
    id: str
    owned_by: str
    created: int
    replicas: int


def make_usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
