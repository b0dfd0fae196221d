"""A greeting service over NATS: `serve()` answers requests on `greet.<lang>`, `greet()` asks."""

from __future__ import annotations

import asyncio

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

GREETINGS = {"en": "hello", "fr": "bonjour"}


async def serve(nc: Client, instance: str = "greeter-1") -> None:
    """Answers `greet.<lang>` requests with "<greeting>, <name>", in the queue group "greeters"
    so that instances share the work; each reply's header `Served-By` names the instance."""

    async def handle(msg: Msg) -> None:
        lang = msg.subject.rsplit(".", 1)[-1]
        text = f"{GREETINGS.get(lang, 'hi')}, {msg.data.decode()}"
        await nc.publish(msg.reply, text.encode(), headers={"Served-By": instance})

    await nc.subscribe("greet.*", queue="greeters", cb=handle)
    await nc.flush()


async def greet(nc: Client, name: str, lang: str = "en", timeout: float = 2.0) -> str:
    reply = await nc.request(f"greet.{lang}", name.encode(), timeout=timeout)
    return reply.data.decode()


def greet_once(url: str, name: str) -> str:
    """A synchronous entry point (a CLI would call this): connect, serve, ask, close."""

    async def main() -> str:
        nc = await nats.connect(url)
        try:
            await serve(nc)
            return await greet(nc, name)
        finally:
            await nc.close()

    return asyncio.run(main())
