"""The inbox against real files: links, devices, odd names, hostile lines, partial writes, size.

Every test builds a real inbox folder and runs the real :meth:`Services.scan_inbox` over a real
database; nothing of the bot is mocked.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Core, build_core
from bot.services import read_input
from bot.settings import Settings
from tests.helpers import make_settings, run_cli

STORY = (
    "The harbour ferry will run every twenty minutes from Monday after the council approved "
    "a new timetable, adding late sailings on Fridays and Saturdays for the summer.\n"
)
OTHER_STORY = (
    "The county library opened a reading room for children in the old market hall, with "
    "two thousand new books and weekend story hours run by volunteers.\n"
)
SECRET = "NEWSBOT_INGEST_TOKEN=do-not-leak-4242\n"


@pytest.fixture
async def inbox_core(tmp_path: Path) -> AsyncIterator[tuple[Core, Settings]]:
    settings = make_settings(tmp_path, inbox_settle_seconds=0.0)
    settings.inbox.mkdir()
    core = await build_core(settings)
    try:
        yield core, settings
    finally:
        await core.close()


async def stored_texts(core: Core) -> list[str]:
    return await core.db.call(
        lambda db: [r["title"] + "\n" + r["text"] for r in db["stories"].rows]
    )


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def skipped_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "event=inbox_file_skipped" in r.getMessage()]


# -- 1. links and other non-regular entries ------------------------------------------------------


async def test_links_and_devices_are_never_read_and_warned_about_once(
    inbox_core: tuple[Core, Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    core, settings = inbox_core
    inbox = settings.inbox
    secret = tmp_path / "secret.env"
    secret.write_text(SECRET * 20, encoding="utf-8")
    (inbox / "environ.txt").symlink_to("/proc/self/environ")
    (inbox / "secret.txt").symlink_to(secret)
    (inbox / "dangling.txt").symlink_to(tmp_path / "nowhere")
    (inbox / "folder.txt").symlink_to(tmp_path)
    os.link(secret, inbox / "hardlinked.txt")  # same file, second name: would leak it as well
    os.mkfifo(inbox / "pipe.txt")  # opening it for reading would block the scan forever
    (inbox / "subdir").mkdir()
    (inbox / "real.txt").write_text(STORY, encoding="utf-8")

    caplog.set_level(logging.WARNING)
    first = await core.services.scan_inbox()
    second = await core.services.scan_inbox()

    assert [o.name for o in first] == ["real.txt"] and second == []
    texts = await stored_texts(core)
    assert len(texts) == 1 and "ferry" in texts[0]
    assert not any("do-not-leak" in t or "PATH=" in t for t in texts)
    left = names_in(inbox)
    for name in ("environ.txt", "secret.txt", "dangling.txt", "folder.txt", "pipe.txt"):
        assert name in left, f"{name} was moved"
    assert "hardlinked.txt" in left and "subdir" in left
    warnings = skipped_warnings(caplog)
    assert len(warnings) == 7, warnings  # one per skipped entry (subdir too), not per scan
    assert sum("symbolic link" in w for w in warnings) == 4
    assert any("pipe.txt" in w and "not a regular file" in w for w in warnings)
    assert any("hardlinked.txt" in w and "hard link" in w for w in warnings)
    assert secret.read_text(encoding="utf-8") == SECRET * 20


def test_a_file_swapped_for_a_link_after_listing_is_not_read(tmp_path: Path) -> None:
    """The listing saw a regular file; by the time it is opened it is a link. Opening without
    following links (O_NOFOLLOW) refuses it instead of reading the target."""
    from bot.services import _LeaveInPlace

    secret = tmp_path / "secret.env"
    secret.write_text(SECRET, encoding="utf-8")
    path = tmp_path / "drop.txt"
    path.write_text(STORY, encoding="utf-8")
    listed = path.lstat()
    path.rename(tmp_path / "first.txt")  # kept, so its inode number is not reused below
    path.symlink_to(secret)
    with pytest.raises(_LeaveInPlace, match="symbolic link"):
        read_input(path, max_bytes=1_000_000, expected=listed)
    path.unlink()
    path.write_text(OTHER_STORY, encoding="utf-8")  # a different file under the same name
    with pytest.raises(_LeaveInPlace, match="replaced"):
        read_input(path, max_bytes=1_000_000, expected=listed)


# -- 3. size cap --------------------------------------------------------------------------------


async def test_a_file_over_the_size_cap_moves_to_failed_with_the_setting_named(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, inbox_settle_seconds=0.0, max_input_bytes=2_000)
    settings.inbox.mkdir()
    (settings.inbox / "big.txt").write_text(STORY * 20, encoding="utf-8")
    (settings.inbox / "small.txt").write_text(STORY, encoding="utf-8")
    core = await build_core(settings)
    try:
        outcomes = {o.name: o for o in await core.services.scan_inbox()}
        assert "NEWSBOT_MAX_INPUT_BYTES" in (outcomes["big.txt"].error or "")
        assert outcomes["small.txt"].error is None
        failed = names_in(settings.inbox / "failed")
        assert any(n.endswith("-big.txt") for n in failed)
        reason = next(
            p for p in (settings.inbox / "failed").iterdir() if p.name.endswith(".txt.reason.txt")
        )
        assert "larger than 2,000 bytes" in reason.read_text(encoding="utf-8")
        assert len(await stored_texts(core)) == 1
        assert await core.services.scan_inbox() == []  # not retried: it left the inbox
        # `newsbot ingest` applies the same cap to a path it is given.
        outcome = await core.services.ingest_file(tmp_path / "inbox" / "failed" / failed[0])
        assert outcome.error and "NEWSBOT_MAX_INPUT_BYTES" in outcome.error
    finally:
        await core.close()


# -- 4. one bad file never stops the inbox ------------------------------------------------------


async def test_every_bad_file_moves_to_failed_and_the_scan_goes_on(
    inbox_core: tuple[Core, Settings],
) -> None:
    core, settings = inbox_core
    inbox = settings.inbox
    bad_name = os.fsdecode(b"caf\xe9-latin1-name.txt")  # not UTF-8: kept as a lone surrogate
    (inbox / bad_name).write_text(STORY, encoding="utf-8")
    longest = "n" * (255 - len(".txt")) + ".txt"  # the longest name the file system allows
    (inbox / longest).write_text(OTHER_STORY, encoding="utf-8")
    deep = "[" * 100_000 + "]" * 100_000
    (inbox / "deep.jsonl").write_text('{"title": "Deep", "text": ' + deep + "}\n")
    digits = "9" * 5_000
    (inbox / "digits.jsonl").write_text('{"title": "Big", "text": "x", "id": ' + digits + "}\n")
    (inbox / "done").write_text(
        "A plain file named like the inbox's folder: the harvest festival moved to Sunday "
        "because of the storm warning for Saturday afternoon.\n",
        encoding="utf-8",
    )
    (inbox / "failed").write_text(
        "The second plain file with a reserved name: the town pool reopens after repairs to "
        "its heating system, with longer opening hours on weekdays.\n",
        encoding="utf-8",
    )
    (inbox / "zz-last.txt").write_text(
        "The regional airport added a daily flight to the capital, starting in the spring "
        "season with a morning departure and an evening return.\n",
        encoding="utf-8",
    )

    outcomes = await core.services.scan_inbox()

    by_name = {o.name: o for o in outcomes}
    assert (
        "caf\ufffd-latin1-name.txt" in by_name
        and by_name["caf\ufffd-latin1-name.txt"].error is None
    )
    assert by_name[longest].error is None
    assert "nested too deeply" in (by_name["deep.jsonl"].error or "")
    assert "5,000 digits" in (by_name["digits.jsonl"].error or "")
    assert by_name["zz-last.txt"].error is None
    assert (inbox / "done").is_dir() and (inbox / "failed").is_dir()
    left = [p.name for p in inbox.iterdir() if not p.is_dir()]
    assert left == [], left  # every file, the renamed reserved ones included, was filed away
    texts = "\n".join(await stored_texts(core))
    for words in ("ferry", "library", "harvest festival", "town pool", "regional airport"):
        assert words in texts
    reasons = [p for p in (inbox / "failed").iterdir() if p.name.endswith(".reason.txt")]
    assert len(reasons) == 2
    assert all(len(os.fsencode(p.name)) <= 255 for p in (inbox / "done").iterdir())
    assert await core.services.scan_inbox() == []


# -- 5. files still being written ---------------------------------------------------------------


async def test_a_file_is_taken_only_after_size_and_mtime_stay_unchanged(
    inbox_core: tuple[Core, Settings],
) -> None:
    core, settings = inbox_core
    path = settings.inbox / "slow-copy.txt"
    path.write_text(STORY, encoding="utf-8")
    earlier = time.time() - 30  # the writer paused: the first part looks old already
    os.utime(path, (earlier, earlier))
    assert await core.services.scan_inbox(settle_seconds=0.3) == []  # first sight: watched
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + OTHER_STORY)
    assert await core.services.scan_inbox(settle_seconds=0.3) == []  # it changed
    time.sleep(0.4)
    (outcome,) = await core.services.scan_inbox(settle_seconds=0.3)
    assert outcome.error is None and outcome.report.new
    texts = "\n".join(await stored_texts(core))
    assert "ferry" in texts and "library" in texts


async def test_the_settle_interval_comes_from_the_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, inbox_settle_seconds=3600.0)
    settings.inbox.mkdir()
    (settings.inbox / "fresh.txt").write_text(STORY, encoding="utf-8")
    core = await build_core(settings)
    try:
        assert await core.services.scan_inbox() == []
        assert await core.services.scan_inbox() == []
        assert (settings.inbox / "fresh.txt").exists()
    finally:
        await core.close()


async def test_part_tmp_and_dot_files_are_left_alone(inbox_core: tuple[Core, Settings]) -> None:
    core, settings = inbox_core
    for name in (".hidden.txt", "wire.txt.part", "wire.txt.tmp", "NOTES.TMP"):
        (settings.inbox / name).write_text(STORY, encoding="utf-8")
    assert await core.services.scan_inbox() == []
    assert await stored_texts(core) == []
    assert len(names_in(settings.inbox)) == 4
    (settings.inbox / "wire.txt.part").rename(settings.inbox / "wire.txt")  # the safe way
    (outcome,) = await core.services.scan_inbox()
    assert outcome.name == "wire.txt" and len(outcome.report.new) == 1


# -- issue 13: input that is not text -----------------------------------------------------------


async def test_binary_input_is_refused_and_nothing_stored(
    inbox_core: tuple[Core, Settings],
) -> None:
    core, settings = inbox_core
    program = Path(sys.executable).resolve().read_bytes()[:3000]
    (settings.inbox / "program.txt").write_bytes(program)
    (settings.inbox / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    controls = bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 27, 127]) * 40 + b"a few words"
    (settings.inbox / "controls.txt").write_bytes(controls)
    outcomes = {o.name: o for o in await core.services.scan_inbox()}
    for name in ("program.txt", "image.png", "controls.txt"):
        error = outcomes[name].error or ""
        assert error.startswith("not text:") and "\n" not in error, error
    assert await stored_texts(core) == []
    assert len([n for n in names_in(settings.inbox / "failed") if n.endswith(".reason.txt")]) == 3


async def test_a_few_bad_bytes_keep_the_readable_utf8_text(
    inbox_core: tuple[Core, Settings],
) -> None:
    core, settings = inbox_core
    text = (
        "Zürich’s tram network will extend to the new hospital in Oerlikon, the city said on "
        "Tuesday, with the first trams expected to run in the spring of next year.\n"
    ).encode()
    damaged = text[:40] + b"\xff\xfe\x80" + text[40:] + b"\xc3"  # odd length: UTF-16 decodes it
    (settings.inbox / "damaged.txt").write_bytes(damaged)
    (outcome,) = await core.services.scan_inbox()
    assert outcome.error is None
    (stored,) = await stored_texts(core)
    assert "Zürich’s tram network" in stored and "Oerlikon" in stored
    assert "\ufffd" not in stored


def test_cli_ingest_refuses_binary_with_one_line_and_a_failing_exit(tmp_path: Path) -> None:
    program = tmp_path / "ls-head.txt"
    program.write_bytes(Path(sys.executable).resolve().read_bytes()[:3000])
    result = run_cli(tmp_path, "ingest", str(program))
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not text" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "0 new" not in result.stderr


@pytest.mark.parametrize("content", [b"", b"\n\n   \n", b"\xef\xbb\xbf\r\n"])
def test_cli_ingest_says_an_empty_file_holds_no_text(tmp_path: Path, content: bytes) -> None:
    empty = tmp_path / "morning.txt"
    empty.write_bytes(content)
    result = run_cli(tmp_path, "ingest", str(empty))
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "empty" in errors[0], result.stderr
    assert "0 new" not in result.stderr


async def test_pushed_binary_text_is_a_row_error(inbox_core: tuple[Core, Settings]) -> None:
    core, _ = inbox_core
    garbage = "".join(chr(c) for c in range(1, 9)) * 50
    report, errors = await core.services.ingest_payload({"title": "Pushed", "text": garbage})
    assert not report.new and errors and "not text" in errors[0]


def test_jsonl_with_only_broken_lines_fails_as_a_whole(tmp_path: Path) -> None:
    from bot.pipeline.ingest import IngestInputError, parse_document

    with pytest.raises(IngestInputError, match="no usable line: line 1 skipped"):
        parse_document(b"{nope\n" + json.dumps({"text": 5}).encode(), name="x.jsonl")


def test_pipe_commands_skip_hostile_json_lines_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``newsbot classify``/``summarize`` read JSON Lines the same careful way."""
    import io

    from bot.pipeline.jsonl import text_records

    lines = [
        "[" * 100_000 + "]" * 100_000,
        '{"text": "x", "n": ' + "7" * 5_000 + "}",
        json.dumps({"title": "Kept", "text": OTHER_STORY}),
    ]
    caplog.set_level(logging.WARNING)
    records = list(text_records(io.StringIO("\n".join(lines) + "\n"), command="classify"))
    assert [r["title"] for r in records] == ["Kept"]
    assert any("line 1 skipped" in m and "nested too deeply" in m for m in caplog.messages)
    assert any("line 2 skipped" in m and "5,000 digits" in m for m in caplog.messages)


async def test_a_database_locked_by_another_process_defers_the_file(
    inbox_core: tuple[Core, Settings],
) -> None:
    """A lock held elsewhere is not the file's fault: it stays in the inbox for the next scan
    instead of moving to failed/."""
    import sqlite3

    core, settings = inbox_core
    await core.db.call(lambda db: db.execute("PRAGMA busy_timeout = 200"))
    (settings.inbox / "wire.txt").write_text(STORY, encoding="utf-8")
    other = sqlite3.connect(settings.db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        assert await core.services.scan_inbox() == []
        assert (settings.inbox / "wire.txt").exists()
        assert names_in(settings.inbox / "failed") == []
    finally:
        other.execute("ROLLBACK")
        other.close()
    (outcome,) = await core.services.scan_inbox()
    assert outcome.error is None and outcome.report.new
