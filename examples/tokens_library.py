"""Use the token plane as a library: no HTTP, the embedded model, one chat and one stream.

.venv/bin/python examples/tokens_library.py
"""

from __future__ import annotations

import asyncio

from blacksoil.core.home import Home
from blacksoil.core.metrics import new_registry
from blacksoil.tokens import ChatCompletionRequest, GenerationRequest, TokensConfig, build_gateway


async def main() -> None:
    gateway = build_gateway(TokensConfig(), Home.resolve(), new_registry(), progress=print)
    await gateway.start()
    try:
        body = {"model": "gemma-3-270m", "messages": [{"role": "user", "content": "Name a river."}], "max_tokens": 24}
        reply = await gateway.generate(GenerationRequest("chat", ChatCompletionRequest.model_validate(body), body))
        print("reply:", reply["choices"][0]["message"]["content"])

        body = {**body, "stream": True}
        chunks = await gateway.open_stream(GenerationRequest("chat", ChatCompletionRequest.model_validate(body), body))
        print("stream:", end=" ")
        async for batch in chunks:  # the chunks that arrived together
            for chunk in batch:
                for choice in chunk["choices"]:
                    print(choice["delta"].get("content") or "", end="", flush=True)
        print()
    finally:
        await gateway.close()


if __name__ == "__main__":
    asyncio.run(main())
