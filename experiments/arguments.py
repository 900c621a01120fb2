"""The command line's words turned into checked values: exit codes, argument types (whole numbers in
ranges, seconds, ports), ``--set PATH=VALUE`` pairs, ``--years`` lists, and the refusal of an empty
``--out``. Every mistake is a ``ConfigError`` (or argparse's own message), never a traceback."""

from __future__ import annotations

import argparse

from wattyear.sim.config import ConfigError, Problem, parse_value

EXIT_USAGE = 2
#: most scenarios one command steps together (validate's scenarios, a posterior's particles): their arrays
#: are held at once (~100 kB a scenario over a decade), so 10,000 is about a gigabyte
MAX_SCENARIOS = 10_000
#: a run the run-time guard stopped (``sim.guard``): the config passed validation, the model broke
EXIT_MODEL = 3
EXIT_INTERRUPTED = 130
#: most problems a mistake prints (a file with 300,000 unknown keys printed 300,001 lines)
MAX_PROBLEMS_SHOWN = 50


def integer(text: str) -> int:
    """An integer written in ASCII digits (``int()`` also takes other scripts' digits and underscores)."""
    body = text[1:] if text[:1] in "+-" else text
    if not (body.isascii() and body.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}")
    return int(text)


def bounded_int(low: int, high: int | None = None):
    """An argparse type: an integer from ``low`` to ``high``, the bounds in the message."""
    def parse(text: str) -> int:
        value = integer(text)
        if value < low or (high is not None and value > high):
            span = f"from {low:,} to {high:,}" if high is not None else f"of at least {low:,}"
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, found {text!r}")
        return value

    return parse


positive_int = bounded_int(1)


def worker_count(text: str) -> int:
    """``--workers``: a whole number from 1 to the machine's bound (``executors.max_workers``: a few per
    core), refused as argparse refuses any other value."""
    from wattyear.experiments.studies.executors import max_workers

    limit = max_workers()
    try:
        value = integer(text) if len(text) <= 20 else 0  # (int() refuses more than 4,300 digits)
    except argparse.ArgumentTypeError:
        value = 0
    if not 1 <= value <= limit:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {limit:,} (a few workers per core of "
                                         f"this machine), found {text!r}")
    return value
#: a seed of numpy's generators: a non-negative 64-bit integer
seed_number = bounded_int(0, 2**63 - 1)


def bounded_float(expected: str, low: float, high: float = float("inf"), *, open_low: bool = False):
    """An argparse type: a number from ``low`` (excluded with ``open_low``) to ``high``, inf and NaN refused;
    ``expected`` words the message."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (low < value if open_low else low <= value) or not value <= high or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text!r}")
        return value

    return parse


positive_seconds = bounded_float("a positive number of seconds", 0.0, open_low=True)
#: a log-normal error's sd (a multiplicative spread: 0.5 is about ×1.65 either way)
log_sd = bounded_float("a log-sd between 0 and 5 (e.g. 0.5)", 0.0, 5.0)


def port_number(text: str) -> int:
    try:
        if not (text.isascii() and text.isdigit()):
            raise ValueError(text)
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number (1-65535), found {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number (1-65535), found {value}")
    return value


def parse_sets(items: list[str]) -> dict:
    """``--set PATH=VALUE`` pairs as overrides by dotted path. A path set twice to different values is
    refused (the last would silently win); the same value repeated passes.

    >>> parse_sets(["run.months=6", "fringe.margin=0.1", "fringe.margin=0.10"])
    {'run.months': 6, 'fringe.margin': 0.1}
    """
    overrides = {}
    for item in items:
        if "=" not in item:
            raise ConfigError([Problem("--set", item, "PATH=VALUE, e.g. labs.anthropic.watts=2e9", item)])
        path, value = item.split("=", 1)
        if "\n" in item or "\r" in item:
            raise ConfigError([Problem("--set", path.strip(), "a value on one line (a line break would drop the "
                                       "rest of it)", value)])
        key, parsed = path.strip(), parse_value(value.strip())
        if key in overrides and (overrides[key] != parsed or type(overrides[key]) is not type(parsed)):
            raise ConfigError([Problem("--set", key, f"one value (an earlier --set gives {overrides[key]!r})", parsed)])
        overrides[key] = parsed
    return overrides


def check_out(args) -> None:
    """``--out`` names a folder, or one to be made: ``''`` is refused (it would mean the default folder to one
    command and the working folder to another), and so is a path that is there but is not a folder (a
    file, ``/dev/null``) or a symbolic link pointing nowhere, which making the folder would report as
    "File exists"."""
    import os
    import stat

    out = getattr(args, "out", None)
    if out is None:
        return
    if not str(out).strip():
        raise ConfigError([Problem("--out", "--out", "a folder name (leave --out out for the default)", out)])
    try:
        mode = os.stat(out).st_mode
    except FileNotFoundError:
        if os.path.islink(out):
            raise ConfigError([Problem("--out", str(out), "a folder, or the name of one to make",
                                       f"a symbolic link pointing nowhere (to {os.readlink(out)})")]) from None
        return
    except OSError:  # unreadable on the way: the command names it when it writes there
        return
    if not stat.S_ISDIR(mode):
        found = "a file" if stat.S_ISREG(mode) else "a device, pipe or socket"
        raise ConfigError([Problem("--out", str(out), "a folder, or the name of one to make", f"not a folder: {found}")])


def blame_flags(exc: ConfigError, flags: dict[str, str]) -> ConfigError:
    """The same problems, with a value that came from a flag (``--seed``, ``--months``) blamed on the flag
    rather than on ``--set``."""
    return ConfigError([Problem(flags[p.key], p.key, p.expected, p.found) if p.source == "--set" and p.key in flags
                        else p for p in exc.problems])


def parse_years(text: str) -> list[int]:
    """``--years 2026,2030`` as years (ASCII digits only, as every whole number the command line takes)."""
    try:
        return [integer(part.strip()) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError:
        raise ConfigError([Problem("--years", "years", "years such as 2026,2030", text)]) from None
