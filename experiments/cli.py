"""The ``wattyear`` command line.

    wattyear run [CONFIG] [--out DIR] [--seed N] [--months N] [--set PATH=VALUE ...]
    wattyear params

A user mistake (bad config, unknown key, bad --set) prints one message per
problem, naming file, key, what was expected and what was found, and exits
with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.config import BASELINE, ConfigError, load_config, parse_value

EXIT_USAGE = 2


def _parse_sets(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        if "=" not in item:
            raise ConfigError([_set_problem(item)])
        path, value = item.split("=", 1)
        overrides[path.strip()] = parse_value(value.strip())
    return overrides


def _set_problem(item):
    from sim.config import Problem

    return Problem("--set", item, "PATH=VALUE, e.g. labs.anthropic.watts=2e9", item)


def cmd_run(args) -> int:
    overrides = _parse_sets(args.set or [])
    if args.months is not None:
        overrides["run.months"] = args.months
    if args.seed is not None:
        overrides["run.seed"] = args.seed
    config = load_config(args.config, overrides=overrides)
    out_dir = Path(args.out) if args.out else Path("out") / Path(args.config or BASELINE).stem

    from experiments.run import run, summary_text, write_outputs

    result = run(config)
    files = write_outputs(result, out_dir, plots=not args.no_plots)
    print(summary_text(result))
    print(f"\n{len(result.model.history)} months in {result.seconds:.3f} s (seed {config['run']['seed']}); "
          f"wrote {len(files)} files to {out_dir}/")
    return 0


def cmd_params(args) -> int:
    from sim.docs import parameter_table

    sys.stdout.write(parameter_table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wattyear", description="Agent-based market model of AI-industry economics.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run one config and write metrics, market, plots and a summary")
    p.add_argument("config", nargs="?", help=f"TOML config (default: {BASELINE.name})")
    p.add_argument("--out", help="output folder (default: out/<config name>)")
    p.add_argument("--seed", type=int, help="seed of the model's generator (default: the config's run.seed)")
    p.add_argument("--months", type=int, help="horizon in months (default: the config's run.months)")
    p.add_argument("--set", action="append", metavar="PATH=VALUE",
                   help="override a config value by its dotted path, e.g. labs.anthropic.watts=2e9")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("params", help="print the parameter table (Markdown)")
    p.set_defaults(func=cmd_params)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print("wattyear: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
