"""One-time confirmations pressed twice at once act once (broadcast, unsubscribe, stop, retry)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import build_core
from bot.models import Chat, RawStory, Reply
from handlers.context import CommandContext
from handlers.registry import build_router
from handlers.router import Request
from storage import chats as chat_store
from storage import deliveries as outbox
from storage import state
from storage.db import utcnow
from tests.helpers import make_settings

ADMIN = "100"


@pytest.fixture
async def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    core = await build_core(make_settings(tmp_path, telegram_admin_ids=frozenset({ADMIN})))
    context = CommandContext(core.services, core.settings)
    sent: list[str] = []

    async def send_to_chat(chat: Chat, reply: Reply) -> bool:
        await asyncio.sleep(0)  # a real send yields to the loop
        sent.append(chat.external_id)
        return True

    context.send_to_chat = send_to_chat
    yield build_router(context), core, sent
    await core.close()


async def _twice(router, request: Request) -> list[str]:  # type: ignore[no-untyped-def]
    replies = await asyncio.gather(router.handle(request), router.handle(request))
    return [reply.text for reply in replies if reply is not None]


async def test_broadcast_confirmed_twice_at_once_goes_out_once(setup) -> None:  # type: ignore[no-untyped-def]
    router, _core, sent = setup
    for chat in ("c1", "c2", "c3"):
        await router.handle(Request("telegram", chat, "7", "start"))
    ask = await router.handle(Request("telegram", "c-admin", ADMIN, "admin", "broadcast Hello"))
    assert ask is not None
    token = ask.text.rsplit(" ", 1)[-1]
    replies = await _twice(
        router, Request("telegram", "c-admin", ADMIN, "admin", f"broadcast confirm {token}")
    )
    assert sorted(sent) == ["c-admin", "c1", "c2", "c3"]  # each chat once, not twice
    assert sum(text.startswith("Broadcast done") for text in replies) == 1
    assert sum("already sent" in text for text in replies) == 1


async def test_take_value_gives_a_token_to_one_caller_only(setup) -> None:  # type: ignore[no-untyped-def]
    _router, core, _sent = setup
    await core.db.call(state.set_value, "pending_broadcast:abc", "text")
    first, second = await asyncio.gather(
        core.db.call(state.take_value, "pending_broadcast:abc"),
        core.db.call(state.take_value, "pending_broadcast:abc"),
    )
    assert [first, second] == ["text", None]


async def test_unsubscribe_pressed_twice_removes_once(setup) -> None:  # type: ignore[no-untyped-def]
    router, _core, _sent = setup
    made = await router.handle(Request("telegram", "c1", "7", "subscribe", "earthquake"))
    assert made is not None and made.text.startswith("Subscribed (#1)")
    replies = await _twice(router, Request("telegram", "c1", "7", "unsubscribe", "1"))
    assert sorted(replies) == [
        "Removed subscription #1: earthquake",
        "Subscription #1 was already removed.",
    ]


async def test_stop_confirmed_twice_forgets_once(setup) -> None:  # type: ignore[no-untyped-def]
    router, core, _sent = setup
    await router.handle(Request("telegram", "c1", "7", "subscribe", "earthquake"))
    replies = await _twice(router, Request("telegram", "c1", "7", "stop", "confirm"))
    assert sum(text.startswith("Done: I have forgotten") for text in replies) == 1
    assert sum("already forgotten" in text for text in replies) == 1
    assert await core.db.call(chat_store.find_chat, "telegram", "c1") is None


async def test_queue_retry_twice_requeues_once(setup) -> None:  # type: ignore[no-untyped-def]
    _router, core, _sent = setup

    await core.services.process([RawStory("Quake", "A quake shook the coast.", source_name="W")])

    def dead_letter(db) -> None:  # type: ignore[no-untyped-def]
        chat = chat_store.ensure_chat(db, "telegram", "c9")
        row = outbox.QueuedDelivery(
            chat_id=chat.id,
            story_id=1,
            cluster_id=1,
            platform="telegram",
            reasons=[],
            subscription_ids=[],
            thread_id=None,
            sources_count=1,
        )
        outbox.queue_deliveries(db, [row])
        outbox.mark_dead(db, outbox.due_deliveries(db, "telegram", utcnow())[0].id, "gone")

    await core.db.call(dead_letter)
    counts = await asyncio.gather(
        core.db.call(outbox.retry_dead, None), core.db.call(outbox.retry_dead, None)
    )
    assert sorted(counts) == [0, 1]
