"""Config files: where the packaged ones live, finding a config by path or name, and reading one (TOML,
with ``extends`` laid over its base)."""

from __future__ import annotations

import copy
import stat
import tomllib
from importlib import resources
from pathlib import Path

from wattyear.sim.problems import ConfigError, Problem

#: the packaged configs (``wattyear.configs``: the repository's ``configs/`` folder in a source checkout)
CONFIG_DIR = Path(str(resources.files("wattyear.configs")))
BASELINE = CONFIG_DIR / "baseline.toml"
#: whether wattyear runs from a source checkout (``configs/`` sits next to ``pyproject.toml``) rather
#: than from an installed package, whose files are never written to
SOURCE_CHECKOUT = (CONFIG_DIR.parent / "pyproject.toml").is_file()


def packaged_configs() -> list[str]:
    """Names of the configs that ship with wattyear (``baseline``, the scenario files)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml") if p.stem != "bounds")


def find_config(name: str | Path | None, folder: Path | None = None) -> Path:
    """The file of a config given as a path, or as the name of a packaged config (``"baseline"``,
    ``"colossus_lease"``, with or without ``.toml``); ``None`` is the baseline.

    A file that exists wins over a packaged name (``my_scenario`` finds ``./my_scenario.toml``), so a
    user's own ``baseline.toml`` is read when it is named. Relative paths start in ``folder`` (default
    the working folder). A name that is neither raises ConfigError listing the packaged configs.
    """
    if name is None:
        return BASELINE
    if not str(name).strip():
        raise ConfigError([Problem(repr(str(name)), "(file)", "a TOML file or a packaged config (" +
                                   ", ".join(packaged_configs()) + ")", "an empty name")])
    path = Path(name)
    local = path if folder is None or path.is_absolute() else folder / path
    if local.is_file():
        return local
    if not path.suffix and local.with_suffix(".toml").is_file():  # "my_scenario" for ./my_scenario.toml
        return local.with_suffix(".toml")
    packaged = CONFIG_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if len(path.parts) == 1 and packaged.is_file() and packaged.stem != "bounds":
        return packaged
    if local.exists():  # a folder, a device, and no packaged config of that name: say so, not "no such file"
        read_text_file(local)
    raise ConfigError([Problem(str(name), "(file)", "an existing TOML file or a packaged config (" +
                               ", ".join(packaged_configs()) + ")", "no such file")])


def is_packaged(path: Path) -> bool:
    """Whether ``path`` is one of the packaged config files (never written to)."""
    try:
        return Path(path).resolve().parent == CONFIG_DIR.resolve()
    except OSError:
        return False


# ----------------------------------------------------------------- loading

#: the largest input file read (configs, studies, outcome tables): the packaged baseline is ~40 kB
MAX_FILE_BYTES = 16 * 2**20
#: the deepest nesting of tables a config or study may have (the schema's deepest is 4)
MAX_DEPTH = 16


def read_text_file(path: str | Path, what: str = "a TOML file", limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a user's input file. Every way it can fail to be one (missing, a folder, a device
    or pipe, too large, unreadable, not UTF-8) is a ``ConfigError`` naming the file; the size is checked
    before anything is read."""
    path = Path(path)

    def refuse(found: str) -> ConfigError:
        return ConfigError([Problem(str(path), "(file)", what, found)])

    try:
        info = path.stat()
    except FileNotFoundError:
        raise refuse("no such file") from None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    if stat.S_ISDIR(info.st_mode):
        raise refuse("a folder")
    if not stat.S_ISREG(info.st_mode):
        raise refuse("not a regular file (a device, pipe or socket)")
    if info.st_size > limit:
        raise refuse(f"{info.st_size:,} bytes (at most {limit:,} are read)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    try:
        return data.decode("utf-8-sig")  # (a byte-order mark, as some editors on Windows write, is dropped)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(str(path), "(encoding)", "UTF-8 text",
                                   f"byte 0x{data[exc.start]:02x} on line {line}, which is not UTF-8")]) from None


def depth(value, limit: int = MAX_DEPTH) -> int:
    """How deeply tables and lists nest in ``value`` (iterative: a hostile file cannot exhaust the stack);
    stops counting past ``limit``."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def parse_toml(text: str, source: str) -> dict:
    """TOML text as a dict; syntax errors, nesting deeper than ``MAX_DEPTH`` (the parser is recursive) and
    the like are a ``ConfigError`` naming ``source``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(source, "(syntax)", "valid TOML", str(exc))]) from None
    except ValueError as exc:  # an integer longer than Python converts (4,300 digits)
        raise ConfigError([Problem(source, "(syntax)", "numbers of at most 4,300 digits", str(exc)[:120])]) from None
    except RecursionError:
        raise ConfigError([Problem(source, "(syntax)", f"tables nested at most {MAX_DEPTH} deep",
                                   "deeper nesting than the parser can follow")]) from None
    if depth(raw) > MAX_DEPTH:
        raise ConfigError([Problem(source, "(syntax)", f"tables nested at most {MAX_DEPTH} deep",
                                   f"more than {MAX_DEPTH} levels")])
    return raw


def read_toml(path: str | Path) -> dict:
    return parse_toml(read_text_file(path), str(path))


def merge(base: dict, child: dict) -> dict:
    """A scenario on top of its base: tables merge key by key, lists of tables
    (``[[leases]]``, fleet entries) are appended, other values replaced.

    >>> merge({"a": {"x": 1, "y": 2}, "l": [1]}, {"a": {"y": 3}, "l": [2]})
    {'a': {'x': 1, 'y': 3}, 'l': [1, 2]}
    """
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + copy.deepcopy(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_scenario(path: Path, seen: tuple = ()) -> dict:
    """Read a config; a top-level ``extends = "base.toml"`` (relative to the file, else a packaged
    config's name) reads the base first and lays this file over it."""
    return extend(read_toml(path), path.parent, str(path), seen)


def extend(raw: dict, folder: Path, source: str, seen: tuple = ()) -> dict:
    """A config's tables laid over the config its ``extends`` names (a file relative to ``folder``, or
    a packaged config such as ``"baseline"``), if any."""
    raw = dict(raw)
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str):
        raise ConfigError([Problem(source, "extends", "a file name such as \"baseline.toml\"", base_name)])
    try:  # a file beside this one, else a packaged config
        base_path = find_config(base_name, folder).resolve()
    except ConfigError:
        raise ConfigError([Problem(source, "extends", "a config file (relative to this one) or a packaged config ("
                                   + ", ".join(packaged_configs()) + ")", base_name)]) from None
    if base_path in seen:
        raise ConfigError([Problem(source, "extends", "a chain of files without a loop", base_name)])
    return merge(read_scenario(base_path, seen + (base_path,)), raw)
