"""The install: what pyproject.toml declares, what the locks pin, and how make and Docker use them.

Runtime code (bot/, handlers/, storage/) may import only what ``[project] dependencies`` declares,
and those dependencies are only what it imports; tests, benchmarks and scripts add the ``dev``
extra. ``constraints.txt`` pins every package a running bot installs (the ``dashboard`` extra
included) and ``constraints-dev.txt`` every package ``make test`` installs, both to exact versions
that this environment must have (it was installed from them). No code reaches into a
third-party package's private names, except where the allow-list says why and a bound holds it.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_ROOTS = ("bot", "handlers", "storage")
OTHER_ROOTS = ("tests", "benchmarks", "scripts")
OUR_PACKAGES = {"bot", "handlers", "storage", "tests", "benchmarks", "scripts"}
RUNTIME_LOCK = ROOT / "constraints.txt"
DEV_LOCK = ROOT / "constraints-dev.txt"

# Declared runtime dependencies that no module imports, and why they are needed all the same.
NOT_IMPORTED = {
    "tzdata": "time-zone data that zoneinfo reads where the system has none",
    "psycopg-binary": "the libpq psycopg loads itself (its [binary] extra), no system libpq needed",
}

# Private names of third-party packages that runtime code does use: (owner, why no public way
# exists, the test that fails when the name stops working). The owner has an upper bound below
# its next minor release in pyproject.toml.
PRIVATE_NAMES_ALLOWED = {
    ("bot/pipeline/fetch.py", "transport._pool"): (
        "httpx",
        "httpx takes no network backend, so the address guard replaces the pool it built",
        "tests/test_fetch.py::test_dns_rebinding_is_refused_at_connect_time",
    ),
}

# Packages that we reach into deeply or whose API is young: each needs an upper bound.
BOUNDED = (
    "httpx",
    "httpcore",
    "trafilatura",
    "sqlite-utils",
    "slack-bolt",
    "slack-sdk",
    "aiohttp",
    "apscheduler",
    "python-telegram-bot",
)


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _project_requirements(*extras: str) -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    found = [Requirement(text) for text in project["dependencies"]]
    for extra in extras:
        found += [Requirement(text) for text in project["optional-dependencies"][extra]]
    return found


def _lock_entries(path: Path) -> list[Requirement]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.partition("#")[0].strip()  # `name==1.0 ; marker  # via ...`
        if text and not text.startswith("-"):
            entries.append(Requirement(text))
    return entries


def _pins_here(path: Path) -> dict[str, str]:
    """The lock's exact version for each package that applies to this platform and Python."""
    pins: dict[str, str] = {}
    for entry in _lock_entries(path):
        if entry.marker is not None and not entry.marker.evaluate():
            continue
        name = canonicalize_name(entry.name)
        assert name not in pins, f"{path.name}: {name} is pinned twice for this Python"
        pins[name] = _exact_version(entry, path)
    return pins


def _exact_version(entry: Requirement, path: Path) -> str:
    specifiers = list(entry.specifier)
    assert len(specifiers) == 1 and specifiers[0].operator == "==", (
        f"{path.name}: {entry} is not pinned to one exact version"
    )
    version = specifiers[0].version
    assert "*" not in version, f"{path.name}: {entry} is a wildcard, not an exact version"
    return version


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    # evaluate() fills in this platform and Python; only the extra is ours to say
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


def _closure(roots: list[Requirement]) -> dict[str, str]:
    """Every installed distribution the requirements pull in, with its installed version."""
    wanted: dict[str, set[str]] = {}
    queue = [req for req in roots if _applies(req, ())]
    missing = []
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        extras = {canonicalize_name(extra) for extra in requirement.extras}
        if name in wanted and extras <= wanted[name]:
            continue
        wanted[name] = wanted.get(name, set()) | extras
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        queue += [r for r in map(Requirement, requires) if _applies(r, wanted[name])]
    assert not missing, f"not installed: {sorted(missing)} (run `make install-dev`)"
    return {name: metadata.version(name) for name in wanted}


def _check_lock(path: Path, roots: list[Requirement]) -> None:
    pins = _pins_here(path)
    installed = _closure(roots)
    unpinned = sorted(set(installed) - set(pins))
    assert not unpinned, f"{path.name} misses {unpinned}: run `make lock`"
    stale = sorted(set(pins) - set(installed))
    assert not stale, f"{path.name} pins {stale}, which nothing requires: run `make lock`"
    drifted = {name: (version, pins[name]) for name, version in installed.items()}
    drifted = {name: pair for name, pair in drifted.items() if Version(pair[0]) != Version(pair[1])}
    assert not drifted, (
        f"installed (version, locked version) differ: {drifted}; the environment was not "
        f"installed from {path.name} (run `make install-dev`)"
    )


# The installer is locked too (see the Makefile): the pip that comes with Python 3.11 does not
# normalise extra names, so `lxml[html_clean]` silently went without lxml_html_clean.
INSTALLER = Requirement("pip>=23.3")


def test_the_runtime_lock_pins_every_package_a_running_bot_installs() -> None:
    _check_lock(RUNTIME_LOCK, [*_project_requirements("dashboard"), INSTALLER])


def test_the_dev_lock_pins_every_package_make_test_installs() -> None:
    _check_lock(DEV_LOCK, [*_project_requirements("dev", "dashboard"), INSTALLER])


def test_the_locked_pip_matches_extra_names_as_lxml_spells_them() -> None:
    for path in (RUNTIME_LOCK, DEV_LOCK):
        assert _pins_here(path)["pip"] in INSTALLER.specifier, path.name
    lxml_extras = metadata.metadata("lxml").get_all("Provides-Extra") or []
    assert "html-clean" in lxml_extras  # the spelling old pips miss for `lxml[html_clean]`
    assert metadata.version("lxml-html-clean") == _pins_here(RUNTIME_LOCK)["lxml-html-clean"]


def test_both_locks_agree_on_every_package_they_share() -> None:
    def pins(path: Path) -> dict[tuple[str, str], str]:
        return {
            (canonicalize_name(entry.name), str(entry.marker)): _exact_version(entry, path)
            for entry in _lock_entries(path)
        }

    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    assert {key: (pin, dev.get(key)) for key, pin in runtime.items() if dev.get(key) != pin} == {}


def _python_files(roots: Iterable[str]) -> Iterator[Path]:
    for root in roots:
        yield from sorted((ROOT / root).rglob("*.py"))


def _third_party_imports(roots: Iterable[str]) -> dict[str, set[str]]:
    """Top-level module name -> files importing it, for modules that are neither ours nor stdlib."""
    found: dict[str, set[str]] = {}
    for path in _python_files(roots):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in OUR_PACKAGES or top == "__future__":
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Distribution name -> files importing it."""
    providers = metadata.packages_distributions()
    unknown = {module: files for module, files in modules.items() if module not in providers}
    assert not unknown, f"imported but provided by no installed distribution: {unknown}"
    found: dict[str, set[str]] = {}
    for module, files in modules.items():
        for distribution in providers[module]:
            found.setdefault(canonicalize_name(distribution), set()).update(files)
    return found


def _names(requirements: Iterable[Requirement]) -> set[str]:
    return {canonicalize_name(req.name) for req in requirements}


def test_runtime_code_imports_only_declared_runtime_dependencies() -> None:
    imported = _distributions(_third_party_imports(RUNTIME_ROOTS))
    declared = _names(_project_requirements())
    undeclared = {name: files for name, files in imported.items() if name not in declared}
    assert undeclared == {}, "add these to [project] dependencies in pyproject.toml"


def test_runtime_dependencies_are_only_what_runtime_code_imports() -> None:
    """A package that only benchmarks or tests use belongs to the dev extra, not to `make run`."""
    imported = set(_distributions(_third_party_imports(RUNTIME_ROOTS)))
    runtime = _project_requirements()
    unused = _names(runtime) - imported - set(NOT_IMPORTED)
    assert unused == set(), "runtime code never imports these: move them to the dev extra"
    # An extra pulls packages that no runtime code imports (the rate limiter's aiolimiter).
    assert {req.name: req.extras for req in runtime if req.extras} == {}


def test_tests_benchmarks_and_scripts_import_only_declared_packages() -> None:
    imported = _distributions(_third_party_imports(OTHER_ROOTS))
    declared = _names(_project_requirements("dev"))
    undeclared = {name: files for name, files in imported.items() if name not in declared}
    assert undeclared == {}, "add these to the dev extra in pyproject.toml"


def _has_upper_bound(specifier: SpecifierSet) -> bool:
    return any(spec.operator in ("<", "<=", "==", "~=", "===") for spec in specifier)


def test_young_or_deeply_used_dependencies_have_upper_bounds() -> None:
    runtime = {str(canonicalize_name(req.name)): req for req in _project_requirements()}
    pins = _pins_here(RUNTIME_LOCK)
    unbounded = [name for name in BOUNDED if not _has_upper_bound(runtime[name].specifier)]
    unbounded += [
        name
        for name, req in runtime.items()
        if Version(pins[name]).major == 0 and not _has_upper_bound(req.specifier)
    ]
    assert unbounded == []
    for owner, _why, test in PRIVATE_NAMES_ALLOWED.values():
        test_file, _, test_name = test.partition("::")
        defined = ast.parse((ROOT / test_file).read_text(encoding="utf-8")).body
        assert any(getattr(node, "name", None) == test_name for node in defined), test
        locked = Version(pins[owner])
        next_minor = Version(f"{locked.major}.{locked.minor + 1}")
        assert next_minor not in runtime[owner].specifier, (
            f"{owner} is used through a private name: bound it below {next_minor}"
        )


def _defined_private_names(roots: Iterable[str]) -> set[str]:
    """Private names that our own code defines (functions, classes, attributes it assigns)."""
    names: set[str] = set()
    for path in _python_files(roots):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and _root_name(node) in ("self", "cls")
            ):
                names.add(node.attr)  # not `transport._pool = ...`: that one is httpx's
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {name for name in names if name.startswith("_")}


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_third_party_uses(path: Path, ours: set[str]) -> list[str]:
    """Each use in ``path`` of a private name that belongs to a third-party package.

    Private means a leading underscore in a module path, an imported name, an attribute or a
    ``getattr`` string. An attribute counts when our own code never defines that name and the
    expression is not rooted in a standard-library module (``zlib._Decompress`` is Python's own).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    stdlib_aliases: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in sys.stdlib_module_names:
                    stdlib_aliases.add(alias.asname or top)
                elif top not in OUR_PACKAGES and any(map(_is_private, alias.name.split("."))):
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            if top in sys.stdlib_module_names:
                stdlib_aliases.update(alias.asname or alias.name for alias in node.names)
            elif top not in OUR_PACKAGES and (
                any(map(_is_private, node.module.split(".")))
                or any(_is_private(alias.name) for alias in node.names)
            ):
                found.append(f"from {node.module} import ...")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in ours:
            root = _root_name(node.value)
            if root not in stdlib_aliases:
                found.append(ast.unparse(node))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
            and node.args[1].value not in ours
        ):
            found.append(f"{node.func.id}(..., {node.args[1].value!r})")
    return found


def test_runtime_code_uses_no_private_name_of_a_third_party_package() -> None:
    ours = _defined_private_names(RUNTIME_ROOTS)
    found = {
        (str(path.relative_to(ROOT)), use)
        for path in _python_files(RUNTIME_ROOTS)
        for use in private_third_party_uses(path, ours)
    }
    assert found - set(PRIVATE_NAMES_ALLOWED) == set()
    assert set(PRIVATE_NAMES_ALLOWED) - found == set(), "an allowed exception is gone: drop it"


def test_the_private_name_scan_catches_what_it_is_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import zlib\n"
        "from sklearn.feature_extraction._stop_words import ENGLISH_STOP_WORDS\n"
        "from aiohttp import web\n"
        "def f(site: web.TCPSite, scheduler: object, ours: object) -> None:\n"
        "    site._server\n"
        "    getattr(scheduler, '_pending_futures', None)\n"
        "    ours._defined_here\n"
        "    zlib._Decompress\n",
        encoding="utf-8",
    )
    assert private_third_party_uses(sample, {"_defined_here"}) == [
        "from sklearn.feature_extraction._stop_words import ...",
        "site._server",
        "getattr(..., '_pending_futures')",
    ]


# ---------------------------------------------------------------- make, Docker and CI


def _make_plan(target: str, venv: Path) -> str:
    """The commands `make TARGET` would run (make -n) with the virtual environment at ``venv``."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        [make, "-n", "--no-print-directory", f"VENV={venv}", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        # Run under `make test` (as CI does), make would otherwise say which folder it enters.
        env={
            key: value
            for key, value in os.environ.items()
            if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
        },
    )
    return result.stdout


def _fake_venv(tmp_path: Path, *stamps: str) -> Path:
    """A virtual environment folder with the given install stamps, newer than every input."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("bin/python", *stamps):
        (venv / name).touch()
    newest = max(p.stat().st_mtime for p in (ROOT / "pyproject.toml", RUNTIME_LOCK, DEV_LOCK))
    for path in [venv / "bin/python", *(venv / name for name in stamps)]:
        os.utime(path, (newest + 10, newest + 10))
    return venv


RUNTIME_INSTALL = re.compile(r"pip install .*-c constraints\.txt -e \.$", re.M)
DEV_INSTALL = re.compile(r"pip install .*-c constraints-dev\.txt -e '\.\[dev\]'$", re.M)


def test_make_run_installs_the_runtime_from_its_lock_and_no_dev_tools(tmp_path: Path) -> None:
    plan = _make_plan("run", tmp_path / "fresh")
    installs = re.findall(r"pip install .*$", plan, re.M)
    assert installs[0].endswith("-c constraints.txt pip"), "pip itself is updated first"
    assert RUNTIME_INSTALL.search(plan), plan
    assert "[dev]" not in plan and "--quiet" not in plan and " -q " not in plan
    assert plan.rstrip().endswith("newsbot run")


def test_make_test_adds_the_dev_tools_from_their_lock(tmp_path: Path) -> None:
    plan = _make_plan("test", tmp_path / "fresh")
    assert RUNTIME_INSTALL.search(plan) and DEV_INSTALL.search(plan), plan
    assert "--quiet" not in plan


def test_each_install_happens_once(tmp_path: Path) -> None:
    after_test = _fake_venv(tmp_path / "a", ".installed-run", ".installed-dev")
    assert "pip install" not in _make_plan("run", after_test)
    assert "pip install" not in _make_plan("test", after_test)
    after_run = _make_plan("test", _fake_venv(tmp_path / "b", ".installed-run"))
    assert DEV_INSTALL.search(after_run) and not RUNTIME_INSTALL.search(after_run), after_run


def test_the_dashboard_installs_its_extra_from_the_runtime_lock(tmp_path: Path) -> None:
    plan = _make_plan("dashboard", _fake_venv(tmp_path, ".installed-run"))
    assert re.search(r"pip install .*-c constraints\.txt -e '\.\[dashboard\]'$", plan, re.M)


def test_the_container_and_ci_install_from_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copies = " ".join(re.findall(r"^COPY (.+)$", dockerfile, re.M))
    assert "constraints.txt" in copies.split()
    installs = re.findall(r"pip install ([^\n\\&]+)", dockerfile)
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    assert installs[0].strip() == "-c constraints.txt pip", "pip itself is updated first"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M)
