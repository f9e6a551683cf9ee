"""The layout's import rules (docs/architecture.md "How it works", each package's __init__).

Data flows one way: ``commands/`` → domain packages → ``bot.store``. The pure
modules (runbook files, the run engine, Block Kit rendering, mrkdwn) import no
database, Bolt, Slack SDK or aiohttp code, not even through another module of
ours. Checked statically over every import statement (lazy and
``TYPE_CHECKING`` ones included), transitively through our own modules.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO_LIBRARIES = ("sqlalchemy", "slack_bolt", "slack_sdk", "aiohttp", "asyncpg", "aiosqlite")
PURE = (
    "bot.runbook",  # the whole package
    "bot.runs.engine",
    "bot.runs.blocks",
    "bot.runs.step_blocks",
    "bot.runs.action_blocks",
    "bot.runs.catalog_blocks",
    "bot.runs.skip_blocks",
    "bot.incidents.blocks",
    "bot.incidents.clock_blocks",
    "bot.incidents.action_blocks",
    "bot.incidents.timeline_blocks",
    "bot.incidents.priority",
    "bot.incidents.followup_text",
    "bot.incidents.timeline_render",
    "bot.incidents.postmortem_render",
    "bot.runs.gates",
    "bot.slack.mrkdwn",
    "bot.slack.blockkit",
    "bot.slack.groups",
    "bot.timefmt",
    "bot.slack.untrusted",
    "bot.drills.validation",
    "bot.drills.views",
    "bot.drills.render",
    "bot.drills.blocks",
    "bot.drills.stats_render",
    "bot.home.view",
    "bot.alerts.payload",
    "bot.alerts.lookup",
    "bot.alerts.priority",
    "bot.alerts.blocks",
)
# What each domain package may import of ours, besides itself and the root helpers.
ALLOWED = {
    "bot.store": set(),
    "bot.runbook": {"bot.slack.mrkdwn"},  # lint measures a step as Slack will show it
    "bot.slack": {"bot.store"},
    "bot.incidents": {"bot.slack", "bot.store", "bot.runbook"},
    "bot.drills": {"bot.store", "bot.runbook", "bot.slack"},
    "bot.home": {"bot.drills", "bot.incidents", "bot.runbook", "bot.slack", "bot.store"},
    "bot.runs": {"bot.runbook", "bot.incidents", "bot.slack", "bot.store", "bot.drills"},
    "bot.intake": {"bot.runs", "bot.incidents", "bot.slack", "bot.store", "bot.runbook"},
    "bot.alerts": {
        "bot.runs",
        "bot.incidents",
        "bot.intake",
        "bot.slack",
        "bot.store",
        "bot.runbook",
        "bot.context",  # the webhook route reads the app's parts, as listeners do
    },
}
ROOT_HELPERS = {"bot", "bot.tasks", "bot.timefmt", "bot.settings", "bot.metrics"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    files = [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("commands").rglob("*.py")]
    return {module_name(p): p for p in files if "_bundled" not in p.parts}


@cache
def imports_of(name: str) -> frozenset[str]:
    """Every module an import statement in ``name`` names (absolute)."""
    tree = ast.parse(modules()[name].read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from bot.runs import blocks`` imports the module bot.runs.blocks
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if f"{node.module}.{a.name}" in modules()
            )
    return frozenset(found)


def ours(name: str) -> list[str]:
    """The module itself and the packages importing it runs first."""
    parts = name.split(".")
    return [
        ".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules()
    ]


def reach(start: str) -> dict[str, str]:
    """Everything ``start`` imports, transitively through our modules: name → importer."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for target in imports_of(current):
            for module in ours(target) or [target]:
                if module not in seen:
                    seen[module] = current
                    if module in modules():
                        todo.append(module)
    return seen


def pure_modules() -> list[str]:
    return sorted(m for m in modules() if any(m == p or m.startswith(p + ".") for p in PURE))


@pytest.mark.parametrize("name", pure_modules())
def test_pure_modules_import_no_io_library(name: str) -> None:
    bad = {
        module: importer
        for module, importer in reach(name).items()
        if module.split(".")[0] in IO_LIBRARIES
    }
    assert not bad, f"{name} is pure but reaches I/O code: " + ", ".join(
        f"{m} (imported by {i})" for m, i in sorted(bad.items())
    )


def package_of(name: str) -> str | None:
    for package in ALLOWED:
        if name == package or name.startswith(package + "."):
            return package
    return None


@pytest.mark.parametrize("name", sorted(m for m in modules() if package_of(m)))
def test_domain_packages_import_one_way(name: str) -> None:
    own = package_of(name)
    assert own is not None
    allowed = ALLOWED[own] | {own}
    wrong = []
    for target in imports_of(name):
        if target.split(".")[0] == "commands":
            wrong.append(target)
        elif target.startswith("bot.") and target not in ROOT_HELPERS:
            if package_of(target) not in allowed and target not in allowed:
                wrong.append(target)
    assert not wrong, f"{name} ({own}) may import only {sorted(allowed)}, not {sorted(wrong)}"


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    # The checker itself: a pure module importing SQLAlchemy through a helper is caught.
    modules.cache_clear()
    imports_of.cache_clear()
    try:
        fake = {
            "bot.runs.blocks": "from bot.runs import queries\n",
            "bot.runs.queries": "import sqlalchemy\n",
        }
        real = modules()
        for name, source in fake.items():
            path = tmp_path / f"{name}.py"
            path.write_text(source)
            real[name] = path
        assert "sqlalchemy" in reach("bot.runs.blocks")
    finally:
        modules.cache_clear()
        imports_of.cache_clear()


def test_root_keeps_only_wiring() -> None:
    root_modules = sorted(
        p.name for p in ROOT.joinpath("bot").glob("*.py") if p.name != "__init__.py"
    )
    assert len(root_modules) <= 10, root_modules


def test_no_module_past_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules().values()
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, f"split these by concern: {long}"


# A run's or an incident's transitions stay a screenful each; composition
# roots (which wire many parts together) may be longer.
FUNCTION_BUDGET = 60
FUNCTION_PACKAGES = ("bot/runs", "bot/incidents")
LONG_ALLOWED: set[str] = set()  # e.g. "bot/app.py:build_context" if it were under these


def long_functions(root: Path, limit: int = FUNCTION_BUDGET) -> list[str]:
    found = []
    for package in FUNCTION_PACKAGES:
        for path in sorted(root.joinpath(package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    where = f"{path.relative_to(root)}:{node.name}"
                    size = (node.end_lineno or node.lineno) - node.lineno + 1
                    if size > limit and where not in LONG_ALLOWED:
                        found.append(f"{where} ({size} lines)")
    return found


def test_no_long_function_in_runs_or_incidents() -> None:
    assert long_functions(ROOT) == []


def test_the_function_budget_catches_a_long_one(tmp_path: Path) -> None:
    package = tmp_path / "bot" / "runs"
    package.mkdir(parents=True)
    (tmp_path / "bot" / "incidents").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_BUDGET))
    (package / "long.py").write_text(f"def transition():\n{body}\n")
    assert long_functions(tmp_path) == [
        f"bot/runs/long.py:transition ({FUNCTION_BUDGET + 1} lines)"
    ]
