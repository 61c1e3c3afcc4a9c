"""Admin commands: run the service from the chat. One implementation each, reachable as
``/admin ...`` on Telegram, ``/news admin ...`` on Slack, in the console and as
``newsbot admin ...`` from the shell.

The router has already checked that the user is an admin on their platform and writes every
attempt and result to the audit log.
"""

from __future__ import annotations

import io
import logging
import secrets
import statistics
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bot.alerts import TOPIC_LABELS
from bot.models import Attachment, Button, Chat, Reply
from handlers import sources_admin
from handlers.context import CommandContext
from handlers.numbers import parse_id, parse_number
from handlers.router import CommandSpec, Request
from storage import audit, state
from storage import chats as chat_store
from storage import deliveries as outbox
from storage import sources as source_store
from storage import stories as story_store
from storage.engine import Store
from storage.maintenance import database_sizes

PAGE = 10
BROADCAST_KEY = "pending_broadcast:"
MAX_BROADCAST_CHARS = 3000

AdminHandler = Callable[[CommandContext, Request, Chat, str], Awaitable[Reply]]


def _page(args: str) -> int:
    words = args.split()
    if len(words) >= 2 and words[-2] == "page":
        return max(1, min(10_000, parse_number(words[-1]) or 1))
    return 1


def _more(command: str, page: int, total: int) -> list[str]:
    """The "More" line, only when there is a next page to show."""
    return [f"More: /admin {command} page {page + 1}"] if page * PAGE < total else []


async def admin_sources(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    page = _page(args)
    db = ctx.services.db
    total = await db.call(lambda db: int(db.execute("SELECT count(*) FROM sources").fetchone()[0]))
    if total and (page - 1) * PAGE >= total:
        return Reply(f"No sources on page {page}: there are {total}.")
    text = await db.call(
        sources_admin.format_sources, ctx.clock(), offset=(page - 1) * PAGE, limit=PAGE
    )
    # format_sources ends a partial listing with "… N more"; the More line says where.
    lines = [line for line in text.splitlines() if not line.startswith("… ")]
    return Reply("\n".join([f"Sources (page {page}):", *lines, *_more("sources", page, total)]))


async def admin_addsource(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    words = args.split()
    if not words:
        return Reply(
            "Usage: /admin addsource URL [NAME] [INTERVAL_MINUTES]\n"
            "Example: /admin addsource https://example.com/rss Example 15"
        )
    interval = None
    if len(words) > 1 and parse_number(words[-1]) is not None:
        interval = parse_number(words.pop())
    name = " ".join(words[1:]) or None
    return await sources_admin.add_source_checked(ctx, words[0], name=name, interval=interval)


def _source_action(action: str) -> AdminHandler:
    async def run(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
        if not args.strip():
            return Reply(f"Usage: /admin {action}source ID|NAME|URL (see /admin sources)")
        try:
            return Reply(
                await ctx.services.db.call(sources_admin.change_state, args.strip(), action)
            )
        except LookupError as exc:
            return Reply(f"Error: {exc.args[0]}")

    return run


async def admin_poll(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    services = ctx.services
    if args.strip():
        try:
            source = await services.db.call(source_store.resolve_source, args.strip())
        except LookupError as exc:
            return Reply(f"Error: {exc.args[0]}")
        outcomes = [await services.poll_source(source)]
    else:
        outcomes = await services.poll_all()
    if not outcomes:
        return Reply("No active sources to poll.")
    lines = [f"Polled {len(outcomes)} source(s):"]
    for outcome in outcomes:
        detail = outcome.error or outcome.report.summary_line()
        lines.append(f"#{outcome.source.id} {outcome.source.name}: {outcome.status}, {detail}")
    return Reply("\n".join(lines))


async def admin_import(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    if req.attachment is None:
        return Reply("Attach an .opml file to the /admin import message.")
    return await sources_admin.import_opml(ctx, req.attachment[1])


async def admin_export(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    content = await ctx.services.db.call(sources_admin.export_opml)
    return Reply(
        "All sources as OPML.",
        attachments=(Attachment("newsbot-sources.opml", content, "text/x-opml"),),
    )


def gather_stats(db: Store, now: datetime) -> dict[str, object]:
    per_day = story_store.stories_per_day_by_topic(db, now, days=7)
    counts = outbox.counts_by_status(db)
    by_status: dict[str, int] = {}
    for (_platform, status), count in counts.items():
        by_status[status] = by_status.get(status, 0) + count
    chats_by_state: dict[str, int] = {}
    for chat in chat_store.list_chats(db):
        chats_by_state[chat.state] = chats_by_state.get(chat.state, 0) + 1
    latencies = outbox.alert_latencies(db, now - timedelta(days=7))
    return {
        "per_day": per_day,
        "deliveries": by_status,
        "chats": chats_by_state,
        # A mute is stored as a subscription row but is not one: counted apart.
        "subscriptions": int(
            db.execute("SELECT count(*) FROM subscriptions WHERE kind != 'mute'").fetchone()[0]
        ),
        "mutes": int(
            db.execute("SELECT count(*) FROM subscriptions WHERE kind = 'mute'").fetchone()[0]
        ),
        "stories": story_store.count_stories(db),
        "latency_p50": statistics.median(latencies) if latencies else None,
        "latency_p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
    }


def stats_text(stats: dict[str, object]) -> str:
    per_day: dict[str, dict[str, int]] = stats["per_day"]  # type: ignore[assignment]
    lines = ["Stories per day by topic (last 7 days):"]
    if not per_day:
        lines.append("  none yet")
    for day, topics in per_day.items():
        parts = ", ".join(f"{t} {n}" for t, n in sorted(topics.items(), key=lambda kv: -kv[1]))
        lines.append(f"  {day}: {sum(topics.values())} ({parts})")
    deliveries: dict[str, int] = stats["deliveries"]  # type: ignore[assignment]
    lines.append(
        "Deliveries: "
        f"sent {deliveries.get('sent', 0)}, pending {deliveries.get('pending', 0) + deliveries.get('sending', 0)}, "
        f"held {deliveries.get('held', 0)}, failed {deliveries.get('dead', 0)}"
    )
    chats: dict[str, int] = stats["chats"]  # type: ignore[assignment]
    lines.append(
        f"Chats: active {chats.get('active', 0)}, dormant {chats.get('dormant', 0)}, "
        f"paused {chats.get('paused', 0)}, banned {chats.get('banned', 0)}"
    )
    lines.append(
        f"Subscriptions: {stats['subscriptions']} (and {stats.get('mutes', 0)} mutes); "
        f"stories stored: {stats['stories']}"
    )
    p50, p95 = stats["latency_p50"], stats["latency_p95"]
    if p50 is None:
        lines.append("Ingest-to-alert latency: no alerts sent in the last 7 days")
    else:
        lines.append(f"Ingest-to-alert latency: p50 {p50:.1f} s, p95 {p95:.1f} s")
    return "\n".join(lines)


def stats_chart(per_day: dict[str, dict[str, int]], now: datetime) -> bytes:
    """A PNG of story volume by topic over the last 7 days (matplotlib, headless)."""
    # matplotlib logs INFO lines of its own on every chart (the day labels look like dates to
    # its category axis): they are not events of ours.
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    days = [(now - timedelta(days=offset)).date().isoformat() for offset in range(6, -1, -1)]
    topics = sorted({t for counts in per_day.values() for t in counts})
    figure = Figure(figsize=(8, 4), dpi=100)
    axes = figure.add_subplot()
    bottoms = [0] * len(days)
    for topic in topics:
        values = [per_day.get(day, {}).get(topic, 0) for day in days]
        axes.bar(
            [d[5:] for d in days], values, bottom=bottoms, label=TOPIC_LABELS.get(topic, topic)
        )
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    axes.set_title("Stories per day by topic")
    axes.set_ylabel("stories")
    if topics:
        axes.legend(fontsize=7, loc="upper left", ncols=2)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def admin_stats(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    now = ctx.clock()
    stats = await ctx.services.db.call(gather_stats, now)
    text = stats_text(stats)
    chart = stats_chart(stats["per_day"], now)  # type: ignore[arg-type]
    return Reply(
        text,
        title="newsbot stats",
        attachments=(
            Attachment("newsbot-stats.png", chart, "image/png", "Stories per day by topic"),
        ),
    )


async def admin_queue(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    db = ctx.services.db
    counts = await db.call(outbox.counts_by_status)
    dead = await db.call(outbox.dead_letters, 10)
    lines = ["Outbox by transport:"]
    platforms = sorted({p for p, _s in counts})
    for platform in platforms or ["(empty)"]:
        parts = ", ".join(f"{s} {n}" for (p, s), n in sorted(counts.items()) if p == platform)
        lines.append(f"  {platform}: {parts or 'nothing'}")
    if dead:
        lines.append("Dead letters (newest first):")
        lines += [f"  #{d.id} chat {d.chat_id} story {d.story_id}: {d.last_error}" for d in dead]
        lines.append("Retry one with /admin retry ID, or all with /admin retry all.")
    buttons = ((Button("Retry all dead letters", action="retry:all"),),) if dead else ()
    return Reply("\n".join(lines), buttons=buttons)


async def admin_retry(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    ref = args.strip()
    delivery_id = parse_id(ref)
    if ref != "all" and delivery_id is None:
        return Reply("Usage: /admin retry ID|all")
    count = await ctx.services.db.call(outbox.retry_dead, delivery_id)
    return Reply(f"Re-queued {count} dead letter(s).")


async def admin_users(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    page = _page(args)

    def listing(db: Store) -> tuple[list[str], int]:
        total = int(db.execute("SELECT count(*) FROM chats").fetchone()[0])
        rows = db.execute(
            """
            SELECT c.id, c.platform, c.external_id, c.title, c.kind, c.state,
                   (SELECT count(*) FROM subscriptions s WHERE s.chat_id = c.id AND s.kind != 'mute'),
                   (SELECT count(*) FROM deliveries d WHERE d.chat_id = c.id AND d.status = 'sent')
            FROM chats c ORDER BY c.id LIMIT ? OFFSET ?
            """,
            [PAGE, (page - 1) * PAGE],
        ).fetchall()
        return [
            f"#{r[0]} {r[1]}:{r[2]} {r[3] or ''} [{r[4]}, {r[5]}] subs {r[6]}, alerts sent {r[7]}"
            for r in rows
        ], total

    lines, total = await ctx.services.db.call(listing)
    if not lines:
        return Reply("No chats on this page.")
    return Reply("\n".join([f"Chats (page {page}):", *lines, *_more("users", page, total)]))


def _ban(new_state: str) -> AdminHandler:
    async def run(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
        chat_id = parse_id(args)
        if chat_id is None:
            return Reply(
                f"Usage: /admin {'ban' if new_state == 'banned' else 'unban'} ID (see /admin users)"
            )
        try:
            target = await ctx.services.db.call(
                chat_store.set_chat_state,
                chat_id,
                new_state,
                f"banned by admin {req.user_id}" if new_state == "banned" else None,
            )
        except LookupError as exc:
            return Reply(f"Error: {exc.args[0]}")
        return Reply(
            f"Chat #{target.id} ({target.platform}:{target.external_id}) is now {target.state}."
        )

    return run


async def admin_broadcast(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    """Two steps: the text is stored under a one-time token; confirming sends it."""
    text = args.strip()
    db = ctx.services.db
    if text.startswith("confirm "):
        token = text.removeprefix("confirm ").strip()
        if ctx.send_to_chat is None:
            return Reply("Broadcasts are sent by the running bot; start it with `newsbot run`.")
        # One atomic claim: of two presses of the same button only one gets the message.
        message = await db.call(state.take_value, BROADCAST_KEY + token)
        if not message:
            return Reply("That broadcast has expired or was already sent.")
        targets = await db.call(chat_store.list_chats, chat_state="active")
        sent = failed = 0
        for target in targets:
            if await ctx.send_to_chat(target, Reply(message)):
                sent += 1
            else:
                failed += 1
        return Reply(f"Broadcast done: sent to {sent} chat(s), {failed} failed.")
    if not text:
        return Reply("Usage: /admin broadcast TEXT (you will be asked to confirm)")
    if len(text) > MAX_BROADCAST_CHARS:
        return Reply(f"Too long: at most {MAX_BROADCAST_CHARS} characters.")
    token = secrets.token_hex(4)
    await db.call(state.set_value, BROADCAST_KEY + token, text)
    targets = await db.call(chat_store.list_chats, chat_state="active")
    return Reply(
        f"Send this to {len(targets)} active chat(s)?\n\n{text}\n\n"
        f"Confirm with /admin broadcast confirm {token}",
        buttons=((Button("Send broadcast", action=f"bcast:{token}"),),),
    )


async def admin_jobs(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    if ctx.jobs is None:
        return Reply(
            "The scheduler is not running in this process (start the bot with `newsbot run`)."
        )
    lines = ["Scheduler jobs:"]
    for name, next_run in ctx.jobs():
        when = next_run.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if next_run else "paused"
        lines.append(f"  {name}: next {when}")
    return Reply("\n".join(lines))


async def admin_health(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    db = ctx.services.db
    sizes = await db.call(database_sizes, ctx.settings.db_path)
    last_poll = await db.call(state.get_value, "last_successful_poll_at")
    transports = ctx.transport_status() if ctx.transport_status else {}
    lines = [
        f"Database: {sizes['database_bytes']:,} bytes, WAL {sizes['wal_bytes']:,} bytes",
        f"Last successful poll: {last_poll or 'never'}",
        "Transports: "
        + (", ".join(f"{k} {v}" for k, v in transports.items()) or "none running here"),
    ]
    return Reply("\n".join(lines))


async def admin_audit(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    rows = await ctx.services.db.call(audit.recent, 15)
    lines = ["Recent admin actions:"]
    lines += [
        f"  {r['at']} {r['platform']}:{r['user_id']} {r['action']} {r['arguments']} -> {r['result']}"
        for r in rows
    ]
    return Reply("\n".join(lines))


async def admin_callback(ctx: CommandContext, req: Request, chat: Chat, args: str) -> Reply:
    """Buttons on admin replies (``retry:all``, ``bcast:TOKEN``), routed back here."""
    verb, _, arg = args.strip().partition(":")
    if verb == "retry":
        return await admin_retry(ctx, req, chat, arg)
    if verb == "bcast":
        return await admin_broadcast(ctx, req, chat, f"confirm {arg}")
    return Reply("That button has expired.")


SUBCOMMANDS: dict[str, tuple[AdminHandler, str]] = {
    "sources": (admin_sources, "sources [page N] - every source with its health"),
    "addsource": (
        admin_addsource,
        "addsource URL [NAME] [INTERVAL] - add a feed (validated first)",
    ),
    "removesource": (_source_action("remove"), "removesource ID - delete a source"),
    "pausesource": (_source_action("pause"), "pausesource ID - stop polling a source"),
    "resumesource": (_source_action("resume"), "resumesource ID - poll it again"),
    "poll": (admin_poll, "poll [SOURCE] - fetch now"),
    "import": (admin_import, "import - add the feeds of an attached .opml file"),
    "export": (admin_export, "export - every source as an OPML file"),
    "stats": (admin_stats, "stats - volume by topic, deliveries, chats, latency, with a chart"),
    "queue": (admin_queue, "queue - outbox depth and dead letters"),
    "retry": (admin_retry, "retry ID|all - re-queue dead letters"),
    "users": (admin_users, "users [page N] - chats with their counts"),
    "ban": (_ban("banned"), "ban ID - ignore a chat and send it nothing"),
    "unban": (_ban("active"), "unban ID - lift a ban"),
    "broadcast": (admin_broadcast, "broadcast TEXT - message every active chat (asks to confirm)"),
    "jobs": (admin_jobs, "jobs - scheduler jobs and their next run"),
    "health": (admin_health, "health - database, WAL, last poll, transports"),
    "audit": (admin_audit, "audit - recent admin actions"),
}


async def cmd_admin(ctx: CommandContext, req: Request, chat: Chat) -> Reply:
    sub, _, rest = req.args.strip().partition(" ")
    sub = sub.lower()
    if sub == "callback":
        return await admin_callback(ctx, req, chat, rest)
    if sub not in SUBCOMMANDS:
        lines = ["Admin commands (/admin COMMAND):"]
        lines += [f"  {usage}" for _handler, usage in SUBCOMMANDS.values()]
        prefix = f"Unknown admin command {sub!r}.\n" if sub else ""
        return Reply(prefix + "\n".join(lines))
    handler, _usage = SUBCOMMANDS[sub]
    return await handler(ctx, req, chat, rest)


ADMIN_COMMAND = CommandSpec(
    "admin",
    cmd_admin,
    "run the service (admins only)",
    "/admin COMMAND",
    ("/admin stats", "/admin sources", "/admin addsource https://example.com/rss"),
    admin=True,
)
