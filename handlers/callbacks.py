"""Button presses, mapped onto the same command implementations.

Callback data is tiny (Telegram allows 64 bytes) and untrusted: a pressed button's data is
parsed against a fixed grammar, and anything old, forged or malformed gets a polite answer,
never an exception. Each action becomes a :class:`Request` for an existing command, so a
button does exactly what typing the command would.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.i18n import translator
from bot.models import Button, Reply
from bot.pipeline.query import QueryError, parse_query
from handlers.numbers import parse_id, parse_number
from handlers.router import Request, Router
from storage import stories as story_store

MAX_CALLBACK_BYTES = 64
_CALLBACK_RE = re.compile(r"^(?P<verb>[a-z]{2,8}):(?P<arg>[\w:. \-]{0,56})$")


def _quote_term(term: str) -> str:
    return f'"{term}"' if " " in term else term


async def handle_callback(router: Router, request: Request) -> Reply | None:
    """``request.args`` holds the raw callback data."""
    data = request.args
    t = translator(await router.locale_of(request))
    expired = t._("That button has expired. Send /help to see what I can do.")
    match = _CALLBACK_RE.match(data) if len(data.encode()) <= MAX_CALLBACK_BYTES else None
    if match is None:
        return Reply(expired)
    verb, arg = match.group("verb"), match.group("arg")

    def as_command(command: str, args: str = "") -> Request:
        return replace(request, command=command, args=args)

    if verb == "story" and parse_id(arg) is not None:
        return await router.handle(as_command("story", arg))
    if verb == "unsub" and parse_id(arg) is not None:
        return await router.handle(as_command("unsubscribe", arg))
    if verb == "mute" and re.fullmatch(r"[a-z]{2,20}", arg):
        return await router.handle(as_command("mute", f"topic:{arg}"))
    if verb == "stop" and arg == "confirm":
        return await router.handle(as_command("stop", "confirm"))
    if verb == "search":
        page, _, text = arg.partition(":")
        if parse_number(page) is not None and text:
            return await router.handle(as_command("search", f"{text} page {page}"))
    story_id = parse_id(arg)
    if verb in ("more", "less") and story_id is not None:
        try:
            story = await router.context.services.db.call(story_store.get_story, story_id)
        except LookupError:
            return Reply(t._("That story has expired."))
        if verb == "more":
            if story.key_terms:
                query = " OR ".join(_quote_term(t) for t in story.key_terms[:2])
                try:
                    parse_query(query)
                    return await router.handle(as_command("subscribe", query))
                except QueryError:
                    pass
            if story.topics:
                return await router.handle(as_command("follow", story.topics[0]))
            return Reply(
                t._("I can't tell what this story is about well enough to find more like it.")
            )
        term = (
            story.key_terms[0]
            if story.key_terms
            else (f"topic:{story.topics[0]}" if story.topics else "")
        )
        if not term:
            return Reply(t._("I can't tell what to show less of for this story."))
        reply = await router.handle(
            as_command("mute", _quote_term(term) if not term.startswith("topic:") else term)
        )
        if reply is not None:
            reply = replace(reply, buttons=((Button(t._("Undo"), action=f"unmu:{term[:50]}"),),))
        return reply
    if verb == "unmu":
        return await router.handle(as_command("unmute", arg))
    admin = router.resolve("admin")
    if admin is not None and verb in ("retry", "bcast"):
        return await router.handle(as_command("admin", f"callback {verb}:{arg}"))
    return Reply(expired)
