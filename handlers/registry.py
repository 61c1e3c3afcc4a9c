"""Builds the router with every command registered: the one list of what the bot answers."""

from __future__ import annotations

from handlers.admin import ADMIN_COMMAND
from handlers.commands import USER_COMMANDS
from handlers.context import CommandContext
from handlers.router import Router

ALIASES = {"sub": "subscribe", "unsub": "unsubscribe", "ls": "list", "find": "search"}


def build_router(context: CommandContext) -> Router:
    router = Router(context)
    for spec in USER_COMMANDS:
        router.register(spec, *[alias for alias, name in ALIASES.items() if name == spec.name])
    router.register(ADMIN_COMMAND)
    return router
