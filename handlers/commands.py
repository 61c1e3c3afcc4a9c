"""The chat commands, one implementation each, for every platform.

Each command takes the context, the request and the (already registered) chat, and returns a
:class:`~bot.models.Reply` of plain text and buttons. Replies confirm what was understood:
``/subscribe`` answers with the query as parsed and its id.
"""

from __future__ import annotations

from bot.alerts import TOPIC_LABELS
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator, normalize_locale
from bot.models import Button, Chat, Reply, Story, Subscription
from bot.pipeline.match import StoryFeatures, naive_match
from bot.pipeline.policy import (
    PolicyError,
    parse_clock,
    parse_languages,
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


def _query_error_reply(t: Translator, exc: QueryError) -> Reply:
    # The parser's message already points at the problem with a caret and shows an example.
    return Reply(t._("I could not read that query:\n{error}", error=exc.render(t._)))


def _story_line(t: Translator, story: Story) -> str:
    topics = ", ".join(t.topic(topic) for topic in story.topics[:2])
    # Day and month as numbers: month abbreviations would need a translation of their own.
    when = (story.published_at or story.fetched_at).strftime("%d.%m. %H:%M")
    if topics:
        return t._(
            "#{id} {title} ({source}, {when}, {topics})",
            id=story.id,
            title=story.title,
            source=story.source_name,
            when=when,
            topics=topics,
        )
    return t._(
        "#{id} {title} ({source}, {when})",
        id=story.id,
        title=story.title,
        source=story.source_name,
        when=when,
    )


async def cmd_start(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    if chat.state in ("dormant", "paused"):
        await ctx.services.db.call(chat_store.set_chat_state, chat.id, "active")
    t = ctx.t
    return Reply(
        t._(
            "Hello! I send you the news that matters to you, once, summarized.\n\n"
            "Start with a subscription, for example:\n"
            "/subscribe earthquake\n"
            '/subscribe "climate change" AND -opinion\n'
            "/follow technology\n\n"
            "Send /help for every command. "
            "/settings language {code} changes the language I answer in.",
            code="de" if ctx.locale != "de" else "en",
        )
    )


async def cmd_help(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    wanted = req.args.strip().lstrip("/").lower()
    specs = [s for s in USER_COMMANDS if not wanted or s.name == wanted]
    if wanted and not specs:
        return Reply(
            t._("There is no command /{command}. Send /help for the list.", command=wanted[:32])
        )
    if wanted:
        spec = specs[0]
        lines = [
            f"/{spec.name}: {t._(spec.summary)}",
            t._("Usage: {usage}", usage=t._(spec.usage)),
        ]
        lines += [t._("Example: {example}", example=example) for example in spec.examples]
        return Reply("\n".join(lines))
    lines = [t._("What I can do:")]
    lines += [
        t._("{usage} - {summary}", usage=t._(spec.usage), summary=t._(spec.summary))
        for spec in USER_COMMANDS
    ]
    lines += [
        "",
        t._(
            'Queries: words, "exact phrases", AND, OR, NOT (or -word), parentheses, prefix*, '
            "topic:crime, source:NAME, lang:en."
        ),
        t._("Example: {example}", example="/subscribe (earthquake OR tsunami) AND japan -drill"),
        t._(
            "Languages: /settings language {codes} for my answers; "
            "/settings languages en,de (or any) for the stories you get.",
            codes="|".join(LANGUAGES),
        ),
    ]
    if req.user_id in ctx.settings.admin_ids(req.platform):
        lines += ["", t._("You are an admin: send /admin for the admin commands.")]
    return Reply("\n".join(lines))


async def cmd_subscribe(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    text = req.args.strip()
    if not text:
        return Reply(t._("Tell me what to watch for. Example: /subscribe earthquake AND japan"))
    try:
        query = parse_query(text)
    except QueryError as exc:
        return _query_error_reply(t, exc)
    db = ctx.services.db
    existing = await db.call(sub_store.chat_subscriptions, chat.id)
    if len(existing) >= MAX_SUBSCRIPTIONS_PER_CHAT:
        return Reply(
            t._(
                "This chat has {count} subscriptions, the most allowed. "
                "Remove some with /unsubscribe ID (see /list).",
                count=len(existing),
            )
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
        t._("Subscribed (#{id}): {query}", id=sub.id, query=sub.canonical)
        if created
        else t._(
            "You already have this subscription (#{id}): {query}", id=sub.id, query=sub.canonical
        )
    ]
    hint = query.hint(t._)
    if hint:
        lines.append(t._("Note: {hint}", hint=hint))
    lines.append(
        t._("I'll alert you when a new story matches. /list shows all your subscriptions.")
    )
    return Reply("\n".join(lines), buttons=((Button(t._("Undo"), action=f"unsub:{sub.id}"),),))


def _find_subscription(subs: list[Subscription], ref: str) -> Subscription | None:
    ref = ref.strip().lstrip("#")
    for sub in subs:
        if sub.id == parse_id(ref):
            return sub
    for sub in subs:
        if ref.casefold() in (sub.query.casefold(), sub.canonical.casefold()):
            return sub
    return None


async def _remove(ctx: CommandContext, chat: Chat, ref: str, kind: str, example: str) -> Reply:
    """Remove a subscription (``kind`` query: a query or a follow) or a mute by id or text."""
    t = ctx.t
    if not ref.strip():
        return Reply(t._("Which one? Send /list to see ids. Example: {example}", example=example))
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
    follow = kind == "query" and sub is not None and sub.canonical.startswith("topic:")
    if sub is None:
        if kind == "mute":
            message = N_("No mute '{ref}' in this chat. Send /list to see them.")
        elif ref.strip().startswith("topic:"):
            message = N_("No follow '{ref}' in this chat. Send /list to see them.")
        else:
            message = N_("No subscription '{ref}' in this chat. Send /list to see them.")
        return Reply(t._(message, ref=ref.strip()))
    if not await db.call(sub_store.remove_subscription, sub.id):
        if kind == "mute":
            return Reply(t._("Mute #{id} was already removed.", id=sub.id))
        if follow:
            return Reply(t._("Follow #{id} was already removed.", id=sub.id))
        return Reply(t._("Subscription #{id} was already removed.", id=sub.id))
    if kind == "mute":
        return Reply(t._("Removed mute #{id}: {query}", id=sub.id, query=sub.canonical))
    if follow:
        return Reply(t._("Removed follow #{id}: {query}", id=sub.id, query=sub.canonical))
    return Reply(t._("Removed subscription #{id}: {query}", id=sub.id, query=sub.canonical))


async def cmd_unsubscribe(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    return await _remove(ctx, chat, req.args, "query", "/unsubscribe 12")


async def cmd_list(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    subs = await ctx.services.db.call(sub_store.chat_subscriptions, chat.id)
    queries = [s for s in subs if s.kind == "query" and not s.canonical.startswith("topic:")]
    follows = [s for s in subs if s.kind == "query" and s.canonical.startswith("topic:")]
    mutes = [s for s in subs if s.kind == "mute"]
    t = ctx.t
    if not subs:
        return Reply(t._("No subscriptions yet. Example: /subscribe earthquake, or /follow sport"))
    lines = []
    if queries:
        lines.append(t._("Subscriptions:"))
        lines += [f"#{s.id} {s.canonical}" for s in queries]
    if follows:
        lines.append(t._("Topics followed:"))
        lines += [f"#{s.id} {s.canonical.removeprefix('topic:')}" for s in follows]
    if mutes:
        lines.append(t._("Muted:"))
        lines += [f"#{s.id} {s.canonical}" for s in mutes]
    lines.append(t._("Remove one with /unsubscribe ID, /unfollow TOPIC or /unmute ID."))
    return Reply("\n".join(lines))


async def cmd_topics(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    lines = [t._("Topics you can follow (/follow ID):")]
    lines += [f"{topic} - {t.topic(topic, label)}" for topic, label in TOPIC_LABELS.items()]
    return Reply("\n".join(lines))


def _topic_or_error(t: Translator, text: str) -> str | Reply:
    topic = text.strip().lower().removeprefix("topic:").removeprefix("#")
    if topic not in TOPIC_IDS:
        return Reply(
            t._(
                "'{text}' is not a topic. Topics: {topics}. Example: /follow crime",
                text=text.strip()[:40],
                topics=", ".join(TOPIC_IDS),
            )
        )
    return topic


async def cmd_follow(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    topic = _topic_or_error(t, req.args)
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
    name = t.topic(topic, TOPIC_LABELS[topic])
    if created:
        return Reply(t._("Following {topic} (#{id}).", topic=name, id=sub.id))
    return Reply(t._("Already following {topic} (#{id}).", topic=name, id=sub.id))


async def cmd_unfollow(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    topic = _topic_or_error(ctx.t, req.args)
    if isinstance(topic, Reply):
        return topic
    return await _remove(ctx, chat, f"topic:{topic}", "query", "/unfollow crime")


async def cmd_mute(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    text = req.args.strip()
    if not text:
        return Reply(
            t._(
                "What should I mute? Examples: /mute football, /mute topic:sport, "
                "/mute source:tabloid"
            )
        )
    try:
        query = parse_query(text)
    except QueryError as exc:
        return _query_error_reply(t, exc)
    sub, created = await ctx.services.db.call(
        sub_store.add_subscription, chat.id, kind="mute", query=text, canonical=query.canonical()
    )
    if created:
        return Reply(
            t._(
                "Muted (#{id}): {query}. Stories matching it will not be sent here.",
                id=sub.id,
                query=sub.canonical,
            )
        )
    return Reply(
        t._(
            "Already muted (#{id}): {query}. Stories matching it will not be sent here.",
            id=sub.id,
            query=sub.canonical,
        )
    )


async def cmd_unmute(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    return await _remove(ctx, chat, req.args, "mute", "/unmute 7")


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
    t = ctx.t
    arg = req.args.strip()
    db = ctx.services.db
    if not arg:
        stories = await db.call(story_store.latest_stories, limit=PAGE_SIZE)
        heading = t._("Latest stories:")
    elif arg.lower().removeprefix("topic:") in TOPIC_IDS:
        topic = arg.lower().removeprefix("topic:")
        stories = await db.call(story_store.latest_stories, limit=PAGE_SIZE, topic=topic)
        heading = t._("Latest in {topic}:", topic=t.topic(topic, TOPIC_LABELS[topic]))
    else:
        try:
            stories = await db.call(_recent_matching, arg, PAGE_SIZE)
        except QueryError as exc:
            return _query_error_reply(t, exc)
        heading = t._("Latest matching {query}:", query=arg)
    if not stories:
        if not arg:
            return Reply(t._("No stories yet."))
        return Reply(t._("No recent stories for '{query}'.", query=arg))
    return Reply(
        "\n".join(
            [
                heading,
                *(_story_line(t, s) for s in stories),
                "",
                t._("Send /story ID for details."),
            ]
        ),
        # One button per story listed: a reader can open any of them, not just the first few.
        buttons=tuple((Button(f"#{s.id}", action=f"story:{s.id}"),) for s in stories),
    )


async def cmd_search(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    text = req.args.strip()
    page = 1
    words = text.rsplit(None, 2)
    if len(words) == 3 and words[1].lower() == "page":
        number = parse_number(words[2])
        if number is None:
            return Reply(t._("Which page? Usage: /search QUERY [page N], e.g. /search NATO page 2"))
        text, page = words[0], max(1, min(100, number))
    if not story_store.fts_query(text):
        return Reply(t._("Search for what? Example: /search NATO summit"))
    hits = await ctx.services.db.call(
        story_store.search_stories, text, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    if not hits:
        if page > 1:
            return Reply(t._("Nothing found for '{query}' on page {page}.", query=text, page=page))
        return Reply(t._("Nothing found for '{query}'.", query=text))
    lines = [t._("Results for '{query}' (page {page}):", query=text, page=page)]
    for hit in hits:
        lines.append(f"#{hit.story.id} {hit.story.title} ({hit.story.source_name})")
        lines.append(f"   {hit.snippet}")
    buttons: tuple[tuple[Button, ...], ...] = ()
    if len(hits) == PAGE_SIZE:
        # The command itself stays as typed ("page" is part of its syntax, in every language).
        next_page = f"/search {text} page {page + 1}"
        lines.append(t._("More: {command}", command=next_page))
        buttons = ((Button(t._("Next page"), action=f"search:{page + 1}:{text[:40]}"),),)
    return Reply("\n".join(lines), buttons=buttons)


async def cmd_story(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    ref = req.args.strip().lstrip("#")
    story_id = parse_id(ref)
    if story_id is None:
        return Reply(
            t._("Which story? Usage: /story ID, e.g. /story 42 (ids are in alerts and /latest)")
        )
    db = ctx.services.db
    try:
        story = await db.call(story_store.get_story, story_id)
    except LookupError:
        return Reply(t._("There is no story #{id}; it may have expired.", id=ref))
    members = await db.call(story_store.cluster_members, story.cluster_id or story.id)
    lines = [story.title, "", story.summary or story.text[:600], ""]
    if story.topics:
        topics = ", ".join(t.topic(topic, TOPIC_LABELS.get(topic)) for topic in story.topics)
        lines.append(t._("Topics: {topics}", topics=topics))
    if story.key_terms:
        lines.append(t._("Key terms: {terms}", terms=", ".join(story.key_terms)))
    outlets = len({m.source_name for m in members}) or 1
    lines.append(t.ngettext("{n} source:", "{n} sources:", outlets))
    for member in members[:10] or [story]:
        lines.append(f"- {member.source_name}: {member.url or t._('no link')}")
    buttons = ((Button(t._("Full story"), url=story.url),),) if story.url else ()
    return Reply("\n".join(lines), buttons=buttons)


async def cmd_digest(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    if ctx.send_digest is None:
        return Reply(t._("Digests are sent by the running bot; start it with `newsbot run`."))
    count = await ctx.send_digest(chat)
    if count == 0:
        return Reply(t._("Nothing is waiting for your digest right now."))
    return Reply(
        t.ngettext("Sent your digest with {n} story.", "Sent your digest with {n} stories.", count)
    )


# Translators: setting names and values (mode, instant, digest, hourly, daily, weekly mon, quiet,
# off, cap, length, language, languages, any, images, on) are typed as they are: keep them.
SETTINGS_HELP = N_(
    "Change a setting with /settings NAME VALUE:\n"
    "mode instant|digest - alerts as they come, or grouped\n"
    "digest hourly | daily 08:00 | weekly mon 08:00 - when digests go out\n"
    "timezone Europe/Berlin - for digests and quiet hours\n"
    "quiet 22:00-07:00 | off - hold alerts at night\n"
    "cap 20 - most instant alerts an hour (the rest go to the digest)\n"
    "length 400 - summary length in characters (100-1000)\n"
    "language {languages} - the language I answer in\n"
    "languages en,de | any - only stories in these languages\n"
    "images on|off - show a story's picture with its alert"
)


def settings_help(t: Translator) -> str:
    return t._(SETTINGS_HELP, languages="|".join(LANGUAGES))


def _parse_setting(name: str, value: str) -> dict[str, object]:
    """Validate one /settings change with the code that applies it; PolicyError on bad input."""
    value = value.strip()
    if name == "mode":
        if value not in ("instant", "digest"):
            raise PolicyError(N_("mode is instant or digest, e.g. /settings mode digest"))
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
                N_("cap is a number of alerts an hour from 1 to 500, e.g. /settings cap 20")
            )
        return {"hourly_cap": cap}
    if name == "length":
        length = parse_number(value, low=100, high=1000)
        if length is None:
            raise PolicyError(N_("length is 100 to 1000 characters, e.g. /settings length 300"))
        return {"summary_chars": length}
    if name in ("language", "lang"):
        if value.lower() in ("any", "all", "off"):
            # What "/settings language any" meant before interface languages: the story filter.
            return {"language": None}
        locale = normalize_locale(value) if value.isascii() else None
        if locale is None:
            raise PolicyError(
                N_(
                    "language is one of {languages}, e.g. /settings language de; "
                    "/settings languages sets the languages of the stories you get"
                ),
                languages=", ".join(LANGUAGES),
            )
        return {"locale": locale}
    if name in ("languages", "langs"):
        codes = parse_languages(value)
        return {"language": ",".join(codes) if codes else None}
    if name == "images":
        choice = value.lower()
        if choice not in ("on", "off"):
            raise PolicyError(N_("images is on or off, e.g. /settings images off"))
        return {"images": choice == "on"}
    if name == "time":  # shorthand: /settings time 07:30 keeps the digest kind
        return {"digest_schedule": f"daily {parse_clock(value):%H:%M}"}
    raise PolicyError(N_("there is no setting '{name}'."), name=name)


def describe_settings(t: Translator, chat: Chat) -> str:
    locale = chat.locale or t.locale
    return "\n".join(
        [
            t._("Settings for this chat:"),
            t._("mode: {mode}", mode=chat.mode),
            t._("digest: {schedule}", schedule=chat.digest_schedule),
            t._("timezone: {timezone}", timezone=chat.timezone),
            t._("quiet: {hours}", hours=chat.quiet_hours or "off"),
            t.ngettext("cap: {n} alert an hour", "cap: {n} alerts an hour", chat.hourly_cap),
            t.ngettext("length: {n} character", "length: {n} characters", chat.summary_chars),
            t._("language: {name} ({code})", name=LANGUAGE_NAMES[locale], code=locale),
            t._("languages: {codes}", codes=chat.language or "any"),
            t._("images: {value}", value="on" if chat.images else "off"),
            t._("state: {state}", state=chat.state),
        ]
    )


async def cmd_settings(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    parts = req.args.strip().split(None, 1)
    if not parts:
        return Reply(describe_settings(t, chat) + "\n\n" + settings_help(t))
    name = parts[0].lower()
    value = parts[1] if len(parts) > 1 else ""
    try:
        changes = _parse_setting(name, value)
    except PolicyError as exc:
        message = t._("Could not change that: {error}", error=exc.render(t._))
        if name not in SETTING_NAMES:
            message += "\n" + settings_help(t)
        return Reply(message)
    updated = await ctx.services.db.call(chat_store.update_chat_settings, chat.id, **changes)
    # A new interface language answers in itself at once.
    t = ctx.t if updated.locale == chat.locale else Translator(updated.locale)
    return Reply(t._("Saved.") + "\n" + describe_settings(t, updated))


SETTING_NAMES = frozenset(
    [
        "mode",
        "digest",
        "timezone",
        "tz",
        "quiet",
        "cap",
        "length",
        "language",
        "lang",
        "languages",
        "langs",
        "images",
        "time",
    ]
)


async def cmd_pause(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    await ctx.services.db.call(chat_store.set_chat_state, chat.id, "paused", "paused by the chat")
    return Reply(ctx.t._("Paused: no alerts until you send /resume. Your subscriptions are kept."))


async def cmd_resume(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    await ctx.services.db.call(chat_store.set_chat_state, chat.id, "active")
    return Reply(ctx.t._("Resumed: alerts are on again."))


async def cmd_stop(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    t = ctx.t
    if req.args.strip().lower() != "confirm":
        return Reply(
            t._(
                "This deletes this chat's subscriptions, settings and pending alerts. "
                "Send /stop confirm (or press the button) to go ahead."
            ),
            buttons=((Button(t._("Yes, forget this chat"), action="stop:confirm"),),),
        )
    if not await ctx.services.db.call(chat_store.delete_chat, chat.id):
        return Reply(t._("This chat was already forgotten. Send /start any time to begin again."))
    return Reply(t._("Done: I have forgotten this chat. Send /start any time to begin again."))


def _spec(name: str, handler: Handler, summary: str, usage: str, *examples: str) -> CommandSpec:
    return CommandSpec(name, handler, summary, usage, examples)


USER_COMMANDS: tuple[CommandSpec, ...] = (
    _spec("start", cmd_start, N_("introduce the bot (and wake a paused chat)"), "/start"),
    _spec(
        "help",
        cmd_help,
        N_("this list, or help on one command"),
        N_("/help [COMMAND]"),
        "/help subscribe",
    ),
    _spec(
        "subscribe",
        cmd_subscribe,
        N_("alert on stories matching a query"),
        N_("/subscribe QUERY"),
        "/subscribe earthquake",
        '/subscribe "interest rates" AND (fed OR ecb)',
    ),
    _spec(
        "unsubscribe",
        cmd_unsubscribe,
        N_("remove a subscription"),
        N_("/unsubscribe ID|QUERY"),
        "/unsubscribe 12",
    ),
    _spec("list", cmd_list, N_("your subscriptions, follows and mutes"), "/list"),
    _spec("topics", cmd_topics, N_("the topics you can follow"), "/topics"),
    _spec(
        "follow",
        cmd_follow,
        N_("alert on every story of a topic"),
        N_("/follow TOPIC"),
        "/follow crime",
    ),
    _spec(
        "unfollow",
        cmd_unfollow,
        N_("stop following a topic"),
        N_("/unfollow TOPIC"),
        "/unfollow crime",
    ),
    _spec(
        "mute",
        cmd_mute,
        N_("never alert on a word, topic or source"),
        N_("/mute WORD|topic:X|source:X"),
        "/mute football",
        "/mute topic:sport",
    ),
    _spec("unmute", cmd_unmute, N_("remove a mute"), N_("/unmute ID|WORD"), "/unmute football"),
    _spec(
        "latest",
        cmd_latest,
        N_("the newest stories, by topic or query"),
        N_("/latest [TOPIC|QUERY]"),
        "/latest",
        "/latest science",
        "/latest nato",
    ),
    _spec(
        "search",
        cmd_search,
        N_("search stored stories"),
        # Translators: "page" is typed as it is; translate QUERY and N only.
        N_("/search QUERY [page N]"),
        "/search NATO summit",
    ),
    _spec(
        "story",
        cmd_story,
        N_("a story's summary and all its sources"),
        N_("/story ID"),
        "/story 42",
    ),
    _spec("digest", cmd_digest, N_("send the stories held for your digest now"), "/digest"),
    _spec(
        "settings",
        cmd_settings,
        N_("show or change delivery settings"),
        N_("/settings [NAME VALUE]"),
        "/settings mode digest",
        "/settings quiet 22:00-07:00",
        "/settings timezone Europe/Paris",
    ),
    _spec("pause", cmd_pause, N_("stop alerts for now"), "/pause"),
    _spec("resume", cmd_resume, N_("restart alerts"), "/resume"),
    _spec("stop", cmd_stop, N_("forget this chat and its data"), "/stop"),
)
