"""The chat commands, one implementation each, for every platform.

Each command takes the context, the request and the (already registered) chat, and returns a
:class:`~bot.models.Reply` of plain text and buttons. Replies confirm what was understood:
``/subscribe`` answers with the query as parsed and its id.
"""

from __future__ import annotations

from bot.alerts import TOPIC_LABELS
from bot.models import Button, Chat, Reply, Story, Subscription
from bot.pipeline.match import StoryFeatures, naive_match
from bot.pipeline.policy import (
    PolicyError,
    parse_clock,
    parse_quiet_hours,
    parse_schedule,
    parse_timezone,
)
from bot.pipeline.query import QueryError, parse_query
from handlers.context import CommandContext
from handlers.numbers import parse_id, parse_number
from handlers.router import CommandSpec, Handler, Request
from storage import chats as chat_store
from storage import stories as story_store
from storage import subscriptions as sub_store
from storage.engine import Store

MAX_SUBSCRIPTIONS_PER_CHAT = 200
PAGE_SIZE = 5
TOPIC_IDS = tuple(TOPIC_LABELS)


def _query_error_reply(query: str, exc: QueryError) -> Reply:
    # The parser's message already points at the problem with a caret and shows an example.
    return Reply(f"I could not read that query:\n{exc}")


def _story_line(story: Story) -> str:
    topics = ", ".join(story.topics[:2])
    when = (story.published_at or story.fetched_at).strftime("%d %b %H:%M")
    return (
        f"#{story.id} {story.title} ({story.source_name}, {when}{', ' + topics if topics else ''})"
    )


async def cmd_start(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    if chat.state in ("dormant", "paused"):
        await ctx.services.db.call(chat_store.set_chat_state, chat.id, "active")
    return Reply(
        "Hello! I send you the news that matters to you, once, summarized.\n\n"
        "Start with a subscription, for example:\n"
        "/subscribe earthquake\n"
        '/subscribe "climate change" AND -opinion\n'
        "/follow technology\n\n"
        "Send /help for every command."
    )


async def cmd_help(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    wanted = req.args.strip().lstrip("/").lower()
    specs = [s for s in USER_COMMANDS if not wanted or s.name == wanted]
    if wanted and not specs:
        return Reply(f"There is no command /{wanted[:32]}. Send /help for the list.")
    if wanted:
        spec = specs[0]
        lines = [f"/{spec.name}: {spec.summary}", f"Usage: {spec.usage}"]
        lines += [f"Example: {example}" for example in spec.examples]
        return Reply("\n".join(lines))
    lines = ["What I can do:"]
    lines += [f"{spec.usage} - {spec.summary}" for spec in USER_COMMANDS]
    lines += [
        "",
        'Queries: words, "exact phrases", AND, OR, NOT (or -word), parentheses, prefix*, '
        "topic:crime, source:NAME, lang:en.",
        "Example: /subscribe (earthquake OR tsunami) AND japan -drill",
    ]
    if req.user_id in ctx.settings.admin_ids(req.platform):
        lines += ["", "You are an admin: send /admin for the admin commands."]
    return Reply("\n".join(lines))


async def cmd_subscribe(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    text = req.args.strip()
    if not text:
        return Reply("Tell me what to watch for. Example: /subscribe earthquake AND japan")
    try:
        query = parse_query(text)
    except QueryError as exc:
        return _query_error_reply(text, exc)
    db = ctx.services.db
    existing = await db.call(sub_store.chat_subscriptions, chat.id)
    if len(existing) >= MAX_SUBSCRIPTIONS_PER_CHAT:
        return Reply(
            f"This chat has {len(existing)} subscriptions, the most allowed. "
            "Remove some with /unsubscribe ID (see /list)."
        )
    sub, created = await db.call(
        sub_store.add_subscription,
        chat.id,
        kind="query",
        query=text,
        canonical=query.canonical(),
        thread_id=req.thread_id,
    )
    lines = [
        f"Subscribed (#{sub.id}): {sub.canonical}"
        if created
        else f"You already have this subscription (#{sub.id}): {sub.canonical}"
    ]
    hint = query.hint()
    if hint:
        lines.append(f"Note: {hint}")
    lines.append("I'll alert you when a new story matches. /list shows all your subscriptions.")
    return Reply("\n".join(lines), buttons=((Button("Undo", action=f"unsub:{sub.id}"),),))


def _find_subscription(subs: list[Subscription], ref: str) -> Subscription | None:
    ref = ref.strip().lstrip("#")
    for sub in subs:
        if sub.id == parse_id(ref):
            return sub
    for sub in subs:
        if ref.casefold() in (sub.query.casefold(), sub.canonical.casefold()):
            return sub
    return None


async def _remove(
    ctx: CommandContext, chat: Chat, ref: str, kind: str, noun: str, example: str
) -> Reply:
    if not ref.strip():
        return Reply(f"Which one? Send /list to see ids. Example: {example}")
    db = ctx.services.db
    subs = await db.call(sub_store.chat_subscriptions, chat.id, kind)
    sub = _find_subscription(subs, ref)
    if sub is None and kind == "query" and parse_id(ref) is None:
        # /unsubscribe "earthquakes" should find "earthquake": compare as the parser reads it.
        try:
            canonical = parse_query(ref).canonical()
            sub = _find_subscription(subs, canonical)
        except QueryError:
            sub = None
    if sub is None:
        return Reply(f"No {noun} {ref.strip()!r} in this chat. Send /list to see them.")
    if not await db.call(sub_store.remove_subscription, sub.id):
        return Reply(f"{noun.capitalize()} #{sub.id} was already removed.")
    return Reply(f"Removed {noun} #{sub.id}: {sub.canonical}")


async def cmd_unsubscribe(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    return await _remove(ctx, chat, req.args, "query", "subscription", "/unsubscribe 12")


async def cmd_list(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    subs = await ctx.services.db.call(sub_store.chat_subscriptions, chat.id)
    queries = [s for s in subs if s.kind == "query" and not s.canonical.startswith("topic:")]
    follows = [s for s in subs if s.kind == "query" and s.canonical.startswith("topic:")]
    mutes = [s for s in subs if s.kind == "mute"]
    if not subs:
        return Reply("No subscriptions yet. Example: /subscribe earthquake, or /follow sport")
    lines = []
    if queries:
        lines.append("Subscriptions:")
        lines += [f"#{s.id} {s.canonical}" for s in queries]
    if follows:
        lines.append("Topics followed:")
        lines += [f"#{s.id} {s.canonical.removeprefix('topic:')}" for s in follows]
    if mutes:
        lines.append("Muted:")
        lines += [f"#{s.id} {s.canonical}" for s in mutes]
    lines.append("Remove one with /unsubscribe ID, /unfollow TOPIC or /unmute ID.")
    return Reply("\n".join(lines))


async def cmd_topics(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    lines = ["Topics you can follow (/follow ID):"]
    lines += [f"{topic} - {label}" for topic, label in TOPIC_LABELS.items()]
    return Reply("\n".join(lines))


def _topic_or_error(text: str) -> str | Reply:
    topic = text.strip().lower().removeprefix("topic:").removeprefix("#")
    if topic not in TOPIC_IDS:
        return Reply(
            f"{text.strip()[:40]!r} is not a topic. Topics: {', '.join(TOPIC_IDS)}. "
            "Example: /follow crime"
        )
    return topic


async def cmd_follow(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    topic = _topic_or_error(req.args)
    if isinstance(topic, Reply):
        return topic
    sub, created = await ctx.services.db.call(
        sub_store.add_subscription,
        chat.id,
        kind="query",
        query=f"topic:{topic}",
        canonical=f"topic:{topic}",
        thread_id=req.thread_id,
    )
    verb = "Following" if created else "Already following"
    return Reply(f"{verb} {TOPIC_LABELS[topic]} (#{sub.id}).")


async def cmd_unfollow(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    topic = _topic_or_error(req.args)
    if isinstance(topic, Reply):
        return topic
    return await _remove(ctx, chat, f"topic:{topic}", "query", "follow", "/unfollow crime")


async def cmd_mute(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    text = req.args.strip()
    if not text:
        return Reply(
            "What should I mute? Examples: /mute football, /mute topic:sport, /mute source:tabloid"
        )
    try:
        query = parse_query(text)
    except QueryError as exc:
        return _query_error_reply(text, exc)
    sub, created = await ctx.services.db.call(
        sub_store.add_subscription, chat.id, kind="mute", query=text, canonical=query.canonical()
    )
    verb = "Muted" if created else "Already muted"
    return Reply(f"{verb} (#{sub.id}): {sub.canonical}. Stories matching it will not be sent here.")


async def cmd_unmute(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    return await _remove(ctx, chat, req.args, "mute", "mute", "/unmute 7")


def _recent_matching(db: Store, query_text: str, limit: int) -> list[Story]:
    query = parse_query(query_text)
    found: list[Story] = []
    offset = 0
    while len(found) < limit and offset < 2000:
        batch = story_store.latest_stories(db, limit=200, offset=offset)
        if not batch:
            break
        for story in batch:
            features = StoryFeatures(
                title=story.title,
                text=story.text,
                topics=story.topics,
                source=story.source_name,
                lang=story.language or "",
            )
            if naive_match([(0, query)], features):
                found.append(story)
                if len(found) >= limit:
                    break
        offset += 200
    return found


async def cmd_latest(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    arg = req.args.strip()
    db = ctx.services.db
    if not arg:
        stories = await db.call(story_store.latest_stories, limit=PAGE_SIZE)
        heading = "Latest stories:"
    elif arg.lower().removeprefix("topic:") in TOPIC_IDS:
        topic = arg.lower().removeprefix("topic:")
        stories = await db.call(story_store.latest_stories, limit=PAGE_SIZE, topic=topic)
        heading = f"Latest in {TOPIC_LABELS[topic]}:"
    else:
        try:
            stories = await db.call(_recent_matching, arg, PAGE_SIZE)
        except QueryError as exc:
            return _query_error_reply(arg, exc)
        heading = f"Latest matching {arg}:"
    if not stories:
        return Reply("No stories yet." if not arg else f"No recent stories for {arg!r}.")
    return Reply(
        "\n".join([heading, *(_story_line(s) for s in stories), "", "Send /story ID for details."]),
        # One button per story listed: a reader can open any of them, not just the first few.
        buttons=tuple((Button(f"#{s.id}", action=f"story:{s.id}"),) for s in stories),
    )


async def cmd_search(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    text = req.args.strip()
    page = 1
    words = text.rsplit(None, 2)
    if len(words) == 3 and words[1].lower() == "page":
        number = parse_number(words[2])
        if number is None:
            return Reply("Which page? Usage: /search QUERY [page N], e.g. /search NATO page 2")
        text, page = words[0], max(1, min(100, number))
    if not story_store.fts_query(text):
        return Reply("Search for what? Example: /search NATO summit")
    hits = await ctx.services.db.call(
        story_store.search_stories, text, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    if not hits:
        return Reply(f"Nothing found for {text!r}" + (f" on page {page}." if page > 1 else "."))
    lines = [f"Results for {text!r} (page {page}):"]
    for hit in hits:
        lines.append(f"#{hit.story.id} {hit.story.title} ({hit.story.source_name})")
        lines.append(f"   {hit.snippet}")
    buttons: tuple[tuple[Button, ...], ...] = ()
    if len(hits) == PAGE_SIZE:
        lines.append(f"More: /search {text} page {page + 1}")
        buttons = ((Button("Next page", action=f"search:{page + 1}:{text[:40]}"),),)
    return Reply("\n".join(lines), buttons=buttons)


async def cmd_story(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    ref = req.args.strip().lstrip("#")
    story_id = parse_id(ref)
    if story_id is None:
        return Reply(
            "Which story? Usage: /story ID, e.g. /story 42 (ids are in alerts and /latest)"
        )
    db = ctx.services.db
    try:
        story = await db.call(story_store.get_story, story_id)
    except LookupError:
        return Reply(f"There is no story #{ref}; it may have expired.")
    members = await db.call(story_store.cluster_members, story.cluster_id or story.id)
    lines = [story.title, "", story.summary or story.text[:600], ""]
    if story.topics:
        lines.append("Topics: " + ", ".join(TOPIC_LABELS.get(t, t) for t in story.topics))
    if story.key_terms:
        lines.append("Key terms: " + ", ".join(story.key_terms))
    lines.append(f"Sources ({len({m.source_name for m in members}) or 1}):")
    for member in members[:10] or [story]:
        lines.append(f"- {member.source_name}: {member.url or 'no link'}")
    buttons = ((Button("Full story", url=story.url),),) if story.url else ()
    return Reply("\n".join(lines), buttons=buttons)


async def cmd_digest(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    if ctx.send_digest is None:
        return Reply("Digests are sent by the running bot; start it with `newsbot run`.")
    count = await ctx.send_digest(chat)
    if count == 0:
        return Reply("Nothing is waiting for your digest right now.")
    return Reply(f"Sent your digest with {count} {'story' if count == 1 else 'stories'}.")


SETTINGS_HELP = (
    "Change a setting with /settings NAME VALUE:\n"
    "mode instant|digest - alerts as they come, or grouped\n"
    "digest hourly | daily 08:00 | weekly mon 08:00 - when digests go out\n"
    "timezone Europe/Berlin - for digests and quiet hours\n"
    "quiet 22:00-07:00 | off - hold alerts at night\n"
    "cap 20 - most instant alerts an hour (the rest go to the digest)\n"
    "length 400 - summary length in characters (100-1000)\n"
    "language en | any - only stories in this language\n"
    "images on|off - show a story's picture with its alert"
)


def _parse_setting(name: str, value: str) -> dict[str, object]:
    """Validate one /settings change with the code that applies it; PolicyError on bad input."""
    value = value.strip()
    if name == "mode":
        if value not in ("instant", "digest"):
            raise PolicyError("mode is instant or digest, e.g. /settings mode digest")
        return {"mode": value}
    if name == "digest":
        return {"digest_schedule": str(parse_schedule(value))}
    if name in ("timezone", "tz"):
        parse_timezone(value)
        return {"timezone": value}
    if name == "quiet":
        if value.lower() in ("off", "none", ""):
            return {"quiet_hours": None}
        start, end = parse_quiet_hours(value)
        return {"quiet_hours": f"{start:%H:%M}-{end:%H:%M}"}
    if name == "cap":
        cap = parse_number(value, low=1, high=500)
        if cap is None:
            raise PolicyError(
                "cap is a number of alerts an hour from 1 to 500, e.g. /settings cap 20"
            )
        return {"hourly_cap": cap}
    if name == "length":
        length = parse_number(value, low=100, high=1000)
        if length is None:
            raise PolicyError("length is 100 to 1000 characters, e.g. /settings length 300")
        return {"summary_chars": length}
    if name in ("language", "lang"):
        if value.lower() in ("any", "all", "off"):
            return {"language": None}
        if len(value) != 2 or not value.isalpha():
            raise PolicyError("language is a two-letter code such as en, or any")
        return {"language": value.lower()}
    if name == "images":
        choice = value.lower()
        if choice not in ("on", "off"):
            raise PolicyError("images is on or off, e.g. /settings images off")
        return {"images": choice == "on"}
    if name == "time":  # shorthand: /settings time 07:30 keeps the digest kind
        return {"digest_schedule": f"daily {parse_clock(value):%H:%M}"}
    raise PolicyError(f"there is no setting {name!r}.\n{SETTINGS_HELP}")


def describe_settings(chat: Chat) -> str:
    return "\n".join(
        [
            "Settings for this chat:",
            f"mode: {chat.mode}",
            f"digest: {chat.digest_schedule}",
            f"timezone: {chat.timezone}",
            f"quiet: {chat.quiet_hours or 'off'}",
            f"cap: {chat.hourly_cap} alerts an hour",
            f"length: {chat.summary_chars} characters",
            f"language: {chat.language or 'any'}",
            f"images: {'on' if chat.images else 'off'}",
            f"state: {chat.state}",
        ]
    )


async def cmd_settings(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    parts = req.args.strip().split(None, 1)
    if not parts:
        return Reply(describe_settings(chat) + "\n\n" + SETTINGS_HELP)
    name = parts[0].lower()
    value = parts[1] if len(parts) > 1 else ""
    try:
        changes = _parse_setting(name, value)
    except PolicyError as exc:
        return Reply(f"Could not change that: {exc}")
    updated = await ctx.services.db.call(chat_store.update_chat_settings, chat.id, **changes)
    return Reply("Saved.\n" + describe_settings(updated))


async def cmd_pause(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    await ctx.services.db.call(chat_store.set_chat_state, chat.id, "paused", "paused by the chat")
    return Reply("Paused: no alerts until you send /resume. Your subscriptions are kept.")


async def cmd_resume(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    await ctx.services.db.call(chat_store.set_chat_state, chat.id, "active")
    return Reply("Resumed: alerts are on again.")


async def cmd_stop(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    if req.args.strip().lower() != "confirm":
        return Reply(
            "This deletes this chat's subscriptions, settings and pending alerts. "
            "Send /stop confirm (or press the button) to go ahead.",
            buttons=((Button("Yes, forget this chat", action="stop:confirm"),),),
        )
    if not await ctx.services.db.call(chat_store.delete_chat, chat.id):
        return Reply("This chat was already forgotten. Send /start any time to begin again.")
    return Reply("Done: I have forgotten this chat. Send /start any time to begin again.")


def _spec(name: str, handler: Handler, summary: str, usage: str, *examples: str) -> CommandSpec:
    return CommandSpec(name, handler, summary, usage, examples)


USER_COMMANDS: tuple[CommandSpec, ...] = (
    _spec("start", cmd_start, "introduce the bot (and wake a paused chat)", "/start"),
    _spec(
        "help", cmd_help, "this list, or help on one command", "/help [COMMAND]", "/help subscribe"
    ),
    _spec(
        "subscribe",
        cmd_subscribe,
        "alert on stories matching a query",
        "/subscribe QUERY",
        "/subscribe earthquake",
        '/subscribe "interest rates" AND (fed OR ecb)',
    ),
    _spec(
        "unsubscribe",
        cmd_unsubscribe,
        "remove a subscription",
        "/unsubscribe ID|QUERY",
        "/unsubscribe 12",
    ),
    _spec("list", cmd_list, "your subscriptions, follows and mutes", "/list"),
    _spec("topics", cmd_topics, "the topics you can follow", "/topics"),
    _spec(
        "follow", cmd_follow, "alert on every story of a topic", "/follow TOPIC", "/follow crime"
    ),
    _spec("unfollow", cmd_unfollow, "stop following a topic", "/unfollow TOPIC", "/unfollow crime"),
    _spec(
        "mute",
        cmd_mute,
        "never alert on a word, topic or source",
        "/mute WORD|topic:X|source:X",
        "/mute football",
        "/mute topic:sport",
    ),
    _spec("unmute", cmd_unmute, "remove a mute", "/unmute ID|WORD", "/unmute football"),
    _spec(
        "latest",
        cmd_latest,
        "the newest stories, by topic or query",
        "/latest [TOPIC|QUERY]",
        "/latest",
        "/latest science",
        "/latest nato",
    ),
    _spec(
        "search",
        cmd_search,
        "search stored stories",
        "/search QUERY [page N]",
        "/search NATO summit",
    ),
    _spec("story", cmd_story, "a story's summary and all its sources", "/story ID", "/story 42"),
    _spec("digest", cmd_digest, "send the stories held for your digest now", "/digest"),
    _spec(
        "settings",
        cmd_settings,
        "show or change delivery settings",
        "/settings [NAME VALUE]",
        "/settings mode digest",
        "/settings quiet 22:00-07:00",
        "/settings timezone Europe/Paris",
    ),
    _spec("pause", cmd_pause, "stop alerts for now", "/pause"),
    _spec("resume", cmd_resume, "restart alerts", "/resume"),
    _spec("stop", cmd_stop, "forget this chat and its data", "/stop"),
)
