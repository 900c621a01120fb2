"""Where things live, checked: imports run one way, agents decide without writing the model's state, and
modules that moved into experiments' rooms still import under their old names."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_model_knows_the_agent_classes():
    importers = sorted(p.name for p in (ROOT / "sim").glob("*.py")
                       if any(m.startswith("wattyear.agents") for m in imports(p)))
    assert importers == ["model.py"]


@pytest.mark.parametrize("room, never", [
    ("sim", "wattyear.experiments"),       # the model knows nothing of what is done with it
    ("agents", "wattyear.experiments"),
    ("agents", "wattyear.sim.model"),      # agents see the model through their observation and the World
])
def test_imports_run_one_way(room, never):
    wrong = sorted(p.name for p in (ROOT / room).glob("*.py") if any(m.startswith(never) for m in imports(p)))
    assert not wrong, f"{room}/{wrong} import {never}"


def test_agents_read_the_config_as_the_world_holds_it():
    """From the schema, agents take only its vocabulary (the enums of modes), never fields or defaults."""
    taken = set()
    for path in (ROOT / "agents").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "wattyear.sim.schema":
                taken.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                assert "wattyear.sim.schema" not in {alias.name for alias in node.names}, path.name
    assert taken <= {"Pricing", "FundingSource"}, taken


def test_no_cycle_between_experiments_modules():
    """Module-level and function-body imports alike: no two experiments modules import each other."""
    modules = {}
    for path in (ROOT / "experiments").rglob("*.py"):
        name = "wattyear." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = {m for m in imports(path) if m.startswith("wattyear.experiments")}
    pairs = sorted((a, b) for a, deps in modules.items() for b in deps if b != a and a in modules.get(b, ()))
    assert not pairs, pairs
    assert "wattyear.experiments.cli" not in modules["wattyear.experiments.api"]


def _writes_state(path: Path) -> list[str]:
    """Assignments in an agent's file into ``self.model``'s attributes or the state (``st`` is how the
    rules name ``self.model.state``)."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AugAssign) else []
        for target in targets:
            root = target
            while isinstance(root, (ast.Subscript, ast.Attribute)):
                if isinstance(root, ast.Attribute) and root.attr == "model" and root is not target:
                    bad.append(f"{path.name}:{node.lineno}")
                root = root.value
            if isinstance(root, ast.Name) and root.id == "st" and root is not target:
                bad.append(f"{path.name}:{node.lineno}")
    return bad


def test_agents_decide_and_write_no_state():
    """Each rule returns a decision record; ``sim.clearing`` applies it (and books both sides)."""
    writes = [w for p in sorted((ROOT / "agents").glob("*.py")) for w in _writes_state(p)]
    assert not writes, writes


def test_the_write_check_finds_a_write():
    probe = ROOT / "out" / "probe_agent.py"
    probe.parent.mkdir(exist_ok=True)
    probe.write_text("def f(self, st):\n    st.cash[:, 0] += 1\n    self.model.state.price[0] = 2\n")
    try:
        assert _writes_state(probe) == ["probe_agent.py:2", "probe_agent.py:3"]
    finally:
        probe.unlink()


@pytest.mark.parametrize("old, new", [("sweep", "studies.sweep"), ("store", "studies.store"),
                                      ("posterior", "calibration.posterior"), ("ema", "analysis.ema"),
                                      ("dashboard_app", "dashboard.app")])
def test_an_old_module_name_imports_the_module_at_its_new_place(old, new):
    import importlib

    with pytest.warns(DeprecationWarning, match=rf"wattyear\.experiments\.{old} has moved to "
                                                rf"wattyear\.experiments\.{new}"):
        moved = importlib.import_module(f"wattyear.experiments.{old}")
    assert moved is importlib.import_module(f"wattyear.experiments.{new}")


def test_a_room_named_like_an_old_module_forwards_its_names():
    from wattyear.experiments import calibration

    with pytest.warns(DeprecationWarning, match="calibration.least_squares.fit"):
        fit = calibration.fit
    from wattyear.experiments.calibration.least_squares import fit as at_its_place
    assert fit is at_its_place
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calibration.posterior.__name__ == "wattyear.experiments.calibration.posterior"  # a submodule
    with pytest.raises(AttributeError):
        calibration.no_such_name


def test_python_dash_m_runs_an_old_module_name():
    done = subprocess.run([sys.executable, "-m", "wattyear.experiments.backtest", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "--particles" in done.stdout
    assert "has moved to wattyear.experiments.calibration.backtest" in done.stderr
