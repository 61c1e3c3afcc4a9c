"""The layers of the core, checked on the source: what each may import, directly or through
another module of ours.

The pipeline ends at the outbox, so nothing it imports may know a chat platform: neither our
transports nor Telegram's or Slack's libraries. The outbox drain that sends alerts lives in
:mod:`bot.delivery`. The :class:`~bot.alerts.Alert` type every transport renders is plain data:
its module reaches no storage, so rendering an alert never touches the database.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUR_ROOTS = ("bot", "handlers", "storage")
CHAT_PLATFORMS = ("bot.transports", "telegram", "slack_bolt", "slack_sdk")
PAST_THE_OUTBOX = (*CHAT_PLATFORMS, "bot.delivery")
STORAGE = ("storage", "sqlite_utils", "sqlite3")


def _source(module: str) -> Path | None:
    """The file of one of our modules (a package's ``__init__.py``), or None if not ours."""
    if module.split(".")[0] not in OUR_ROOTS:
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _with_parents(module: str) -> Iterator[str]:
    """Importing ``a.b.c`` runs ``a`` and ``a.b`` first."""
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def direct_imports(path: Path) -> set[str]:
    """Every module ``path`` imports anywhere (in functions and TYPE_CHECKING blocks too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                assert node.module is not None
                base = node.module
            found.update(_with_parents(base))
            for alias in node.names:  # ``from bot.pipeline import run`` imports a module
                if _source(f"{base}.{alias.name}") is not None:
                    found.add(f"{base}.{alias.name}")
    return found


def reachable_imports(start: str) -> dict[str, str]:
    """Every module importing ``start`` loads, each with the module of ours that imports it."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        path = _source(module)
        if path is None:
            continue
        for imported in sorted(direct_imports(path)):
            if imported not in seen and imported != start:
                seen[imported] = module
                todo.append(imported)
    return seen


def _is_under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def _chain(found: dict[str, str], module: str, start: str) -> str:
    chain = [module]
    while chain[-1] != start and chain[-1] in found:
        chain.append(found[chain[-1]])
    return " <- ".join(chain)


def pipeline_modules() -> list[str]:
    return sorted(_module_name(path) for path in (ROOT / "bot" / "pipeline").rglob("*.py"))


def test_the_walk_follows_imports_through_our_modules() -> None:
    """The checks below are only as good as the walk: it sees what a module really loads."""
    sample = ROOT / "bot" / "pipeline" / "run.py"
    found = direct_imports(sample)
    assert "bot.pipeline.classify" in found and "bot.pipeline" in found and "bot" in found
    worker = reachable_imports("bot.delivery.worker")
    assert "bot.transports.base" in worker and "storage.deliveries" in worker
    assert "sqlite_utils" in reachable_imports("bot.delivery.build")


def test_no_pipeline_module_reaches_a_chat_platform_or_the_drain() -> None:
    modules = pipeline_modules()
    assert "bot.pipeline.run" in modules and "bot.pipeline" in modules
    offending = []
    for module in modules:
        found = reachable_imports(module)
        offending += [_chain(found, m, module) for m in found if _is_under(m, PAST_THE_OUTBOX)]
    assert offending == [], "the pipeline ends at the outbox:\n" + "\n".join(sorted(offending))


def test_the_alert_type_reaches_no_storage() -> None:
    found = reachable_imports("bot.alerts")
    offending = [_chain(found, m, "bot.alerts") for m in found if _is_under(m, STORAGE)]
    assert offending == [], "bot.alerts is plain data:\n" + "\n".join(sorted(offending))


def test_transports_render_alerts_without_building_them() -> None:
    """A transport is handed a built alert; building one (which reads storage) is the drain's."""
    for path in sorted((ROOT / "bot" / "transports").glob("*.py")):
        found = reachable_imports(_module_name(path))
        assert "bot.delivery" not in found and "bot.delivery.build" not in found, path.name
