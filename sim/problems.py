"""What a config check reports: a ``Problem`` names the file (or ``--set``), the dotted key, what was
expected and what was found; a ``ConfigError`` carries them all, one line each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the ``found`` of a value that is not there at all
MISSING = type("_Missing", (), {"__repr__": lambda self: "missing"})()


#: characters of a found value a message shows
FOUND_SHOWN = 120


@dataclass(frozen=True)
class Problem:
    source: str  #: file name, or "--set"
    key: str  #: dotted path
    expected: str
    found: Any

    def __str__(self) -> str:
        """One line; a found value longer than ``FOUND_SHOWN`` characters is cut, with its length.

        >>> str(Problem("--set", "run.months", "an integer", "9" * 5000)).endswith(
        ...     "999… (5,002 characters, the first 120 shown)")
        True
        """
        found = "nothing (missing)" if self.found is MISSING else repr(self.found)
        if len(found) > FOUND_SHOWN:
            found = f"{found[:FOUND_SHOWN]}… ({len(found):,} characters, the first {FOUND_SHOWN} shown)"
        return f"{shown(self.source)}: {shown(self.key)}: expected {shown(self.expected)}, found {found}"


def shown(text: Any) -> str:
    r"""``text`` safe to print on a terminal: every character that is not printable (escape sequences,
    bidirectional overrides, line breaks) written as its escape, the rest as it is.

    >>> print(shown("labs.\x1b[31mred"), shown("name\u202egnp.exe"), shown("ø × ok"))
    labs.\x1b[31mred name\u202egnp.exe ø × ok
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


class ConfigError(Exception):
    """One or more problems in a config; ``str()`` lists them one per line; ``kind`` says what failed."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @property
    def kind(self) -> str:
        """What failed, for the first line of an error message, read from where the first problem is.

        >>> ConfigError([Problem("mine", "(file)", "an existing TOML file", "no such file")]).kind
        'input not found'
        >>> ConfigError([Problem("--set", "labs.x.watts", "a number", -1)]).kind
        'invalid --set value'
        >>> ConfigError([Problem("configs/mine.toml", "world.pue", "a number", "x")]).kind
        'invalid configuration'
        >>> ConfigError([Problem("s.toml", "sample.n", "a power of 2", 6)]).kind
        'invalid study'
        >>> ConfigError([Problem("out/s", "design", "the design its runs were made with", "another")]).kind
        'output folder holds other results'
        >>> ConfigError([Problem("out/p/posterior.parquet", "weight", "finite weights", "nan")]).kind
        'invalid posterior folder'
        """
        first = self.problems[0] if self.problems else Problem("", "", "", "")
        source, key, found = str(first.source), str(first.key), str(first.found)
        if key in ("(file)", "(folder)", "(run)", "(posterior)") and ("no such" in found or "none of" in found):
            return "input not found"
        if source == "--set":
            return "invalid --set value"
        if key in FOLDER_KEYS:
            return "output folder holds other results"
        if key == "(posterior)" or source.endswith(("posterior.json", "posterior.parquet")):
            return "invalid posterior folder"
        if key.split(".")[0] in STUDY_TABLES or source in ("sweep", "sensitivity", "ema"):
            return "invalid study"
        if source.endswith(".csv") or key.startswith("line "):
            return "invalid outcomes table"
        if source.startswith("--") or source in ("compare", "compare --at", "validate", "run_ensemble"):
            return "invalid option"
        if key.startswith("(") or not key:
            return "cannot read the input"
        return "invalid configuration"


#: a study file's tables: a problem in one of them is a problem in a study
STUDY_TABLES = ("study", "grid", "sample", "outputs")
#: what a study folder's identity check compares: a problem there is a folder holding another study's runs
FOLDER_KEYS = ("design", "study.toml", "base config", "wattyear version", "model code", "identity.json",
               "sweep.lock", "runs/")


def relabel(exc: ConfigError, source: str) -> ConfigError:
    """The same problems, with those blamed on ``--set`` blamed on ``source`` (the API's overrides, a
    compared run's name) instead."""
    return ConfigError([Problem(source, p.key, p.expected, p.found) if p.source == "--set" else p
                        for p in exc.problems])


def did_you_mean(found: str, candidates) -> str:
    """' (did you mean …?)' naming the closest candidate to a misspelt key or path, or '' if none is close.

    >>> did_you_mean("world.energy_usd_per_mhw", ["world.energy_usd_per_mwh", "world.pue"])
    ' (did you mean world.energy_usd_per_mwh?)'
    >>> did_you_mean("antrhopic", ["anthropic", "openai"]), did_you_mean("zzz", ["anthropic"])
    (' (did you mean anthropic?)', '')
    """
    import difflib

    close = difflib.get_close_matches(str(found), [str(c) for c in candidates], n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""
