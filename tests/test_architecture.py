"""The dependency direction of DESIGN.md, enforced on the source: web -> engine.services ->
engine.{workflow, persistence, ...}; SpiffWorkflow only inside engine/workflow; engine never imports
the web layer; services never commit."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB_MODULES = {"flask", "werkzeug", "jinja2", "marshmallow", "flask_smorest", "flask_babel", "web"}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            found.append(("__import__", node.lineno))
    return found


def _py(folder: str) -> list[Path]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}"
    return files


def test_engine_never_imports_the_web_layer() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}:{line} imports {name}"
        for p in _py("engine")
        for name, line in _imports(p)
        if name.split(".")[0] in WEB_MODULES or name == "__import__"
    ]
    assert offenders == []


def test_spiffworkflow_stays_inside_engine_workflow() -> None:
    workflow_dir = ROOT / "engine" / "workflow"
    offenders = [
        f"{p.relative_to(ROOT)}:{line}"
        for folder in ("engine", "web")
        for p in _py(folder)
        if workflow_dir not in p.parents
        for name, line in _imports(p)
        if name.split(".")[0] == "SpiffWorkflow"
    ]
    assert offenders == []


def test_lower_layers_do_not_import_services() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}:{line} imports {name}"
        for sub in ("workflow", "persistence")
        for p in _py(f"engine/{sub}")
        for name, line in _imports(p)
        if name.startswith("engine.services") or name.startswith("engine.catalogue")
    ]
    assert offenders == []


def test_web_reaches_the_engine_through_services_only() -> None:
    allowed = (
        "engine.services",
        "engine.errors",
        "engine.persistence.database",
        "engine.persistence.schema",
        "engine.catalogue",
        "engine.clock",
        "engine.workdays",
        # the edges that run the scheduler (the ``infora`` command) configure and start it
        "engine.scheduler",
        "engine.notify",
        # the edges' operations: settings checked at start, log set-up, backups (issue 8)
        "engine.config",
        "engine.logging_setup",
        "engine.backup",
    )
    offenders = [
        f"{p.relative_to(ROOT)}:{line} imports {name}"
        for p in _py("web")
        for name, line in _imports(p)
        if name.startswith("engine") and name != "engine" and not name.startswith(allowed)
    ]
    assert offenders == []


def test_services_never_commit() -> None:
    offenders = []
    for p in _py("engine/services"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("commit", "rollback"):
                offenders.append(f"{p.relative_to(ROOT)}:{node.lineno} calls .{node.attr}()")
    assert offenders == []
