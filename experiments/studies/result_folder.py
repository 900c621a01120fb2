"""A sweep's result folder: what its runs came from, and the lock a sweep holds on it.

A folder holds one study's results only. ``identity.json`` records what its runs came from (the study's
text, its base config as resolved, the design file, the wattyear version), and a sweep that would add other
results is refused, naming what changed. ``sweep.lock`` (an OS lock the kernel releases when the process
ends, however it ends) refuses a second sweep into a folder while one writes there.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from wattyear.experiments.studies.folder_files import LOCK, sweep_lock, write_error  # noqa: F401  (the lock lives with the files)
from wattyear.experiments.studies.study import Study
from wattyear.sim.config import ConfigError, Problem

#: what a result folder's runs came from
IDENTITY = "identity.json"


def study_folder(study: Study, out: str | Path | None, adopt: bool = False) -> Path:
    """The folder a study's results go to (default ``out/<study name>``); one that holds results of
    another study, base config, design or wattyear version is refused (``check_identity``)."""
    from wattyear.experiments.folders import check_kind

    folder = Path(out) if out is not None else Path("out") / study.name
    check_kind(folder, "study")
    check_identity(study, folder, adopt)
    return folder


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def study_identity(study: Study) -> dict:
    """What a folder's runs came from, as hashes: the study's text, its base config as resolved (the
    study names its base by path, and the file can change under it between a sweep and its resume),
    the design file, the wattyear version, and the model's code (``model_sha256``: a change to the model
    between a sweep and its resume can move results in the last bits, within one version number)."""
    import wattyear

    config = json.dumps(study.base, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return {"study_sha256": _sha256(study.text), "config_sha256": _sha256(config),
            "design_sha256": study.design_sha256, "wattyear": wattyear.__version__, "model_sha256": model_sha256(),
            "base": str(study.base_path)}


def model_sha256() -> str:
    """A hash of the model's source (``wattyear.sim`` and ``wattyear.agents``): what a run's numbers
    depend on besides its config, installed or in a checkout alike."""
    import wattyear.agents
    import wattyear.sim

    digest = hashlib.sha256()
    for package in (wattyear.sim, wattyear.agents):
        root = Path(package.__file__).parent
        for path in sorted(root.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


#: what to do about a folder that holds other results
_ELSEWHERE = "; to run this, sweep into a new folder (--out) or delete this one"


def check_identity(study: Study, folder: Path, adopt: bool = False) -> None:
    """Refuse a sweep into ``folder`` if its runs came from anything else than ``study`` now gives
    (``identity.json``): one folder never mixes two studies', two configs' or two versions' results.
    A folder with runs but no identity.json (from before it, or with it removed) is refused: nothing says
    what its runs came from. With ``adopt`` it is taken as this study's, as it is now, if its study.toml (if
    any) is this study's; the sweep then records the identity."""
    from wattyear.sim.config_files import read_text_file

    path = folder / IDENTITY
    if not path.exists() and not path.is_symlink():
        previous = folder / "study.toml"
        if previous.exists() and read_text_file(previous, "the study file a sweep copied") != study.text:
            raise ConfigError([Problem(str(folder), "study.toml", f"the same study as {study.path.name}{_ELSEWHERE}",
                                       "a different study's results")])
        has_runs = any((folder / "runs").glob("*.parquet")) or any(
            (folder / name).exists() for name in ("manifest.jsonl", "manifest.parquet"))
        if has_runs and not adopt:
            raise ConfigError([Problem(str(folder), IDENTITY, "the record of what the folder's runs came from (its "
                                       "study, base config, design and wattyear version); to take its runs as this "
                                       "study's as they are now, sweep again with --adopt (adopt=True)"
                                       f"{_ELSEWHERE.replace('; to run this,', ', or')}", "runs with no record")])
        return
    try:
        old = json.loads(read_text_file(path, "the record of what the folder's runs came from"))
        if not isinstance(old, dict):
            raise ValueError(f"a {type(old).__name__}")
    except ConfigError:
        raise
    except (OSError, ValueError) as exc:
        raise ConfigError([Problem(str(folder), IDENTITY, "the record of what the folder's runs came from "
                                   f"(written by wattyear sweep){_ELSEWHERE}", f"unreadable ({exc})")]) from None
    new = study_identity(study)
    problems = []
    if old.get("design_sha256") != new["design_sha256"]:
        problems.append(Problem(str(folder), "design", f"the design its runs were made with{_ELSEWHERE}",
                                f"a different study's results: {study.design_file} changed"))
    elif old.get("study_sha256") != new["study_sha256"]:
        problems.append(Problem(str(folder), "study.toml", f"the same study as {study.path.name}{_ELSEWHERE}",
                                "a different study's results"))
    if old.get("config_sha256") != new["config_sha256"]:
        problems.append(Problem(str(folder), "base config", f"the base config its runs were made with "
                                f"({old.get('base')}, sha256 {str(old.get('config_sha256'))[:12]}){_ELSEWHERE}",
                                f"{new['base']} resolves to another config now (sha256 {new['config_sha256'][:12]})"))
    if old.get("wattyear") != new["wattyear"]:
        problems.append(Problem(str(folder), "wattyear version", f"wattyear {old.get('wattyear')}, which made its "
                                f"runs (another version's results may differ){_ELSEWHERE}",
                                f"wattyear {new['wattyear']}"))
    elif old.get("model_sha256", new["model_sha256"]) != new["model_sha256"]:  # (absent: a folder from before)
        problems.append(Problem(str(folder), "model code", f"the model code that made its runs (sha256 "
                                f"{str(old.get('model_sha256'))[:12]}; a changed model may move results){_ELSEWHERE}",
                                f"the model code changed since (sha256 {new['model_sha256'][:12]})"))
    if problems:
        raise ConfigError(problems)


def write_text(path: Path, text: str) -> None:
    """Write a small file whole or not at all (a temporary name, then renamed); an error names it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(exc, path) from exc


