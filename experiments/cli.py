"""The ``wattyear`` command line.

    wattyear run [CONFIG] [--out DIR] [--seed N] [--months N] [--set PATH=VALUE ...]
    wattyear compare A B [C ...] [--out DIR] [--at YYYY-MM]
    wattyear costs [RUN] [--out DIR] [--years Y,Y,...]
    wattyear sweep STUDY [--out DIR] [--workers N] [--memory SIZE] [--scheduler ADDRESS] [--resume]
    wattyear sensitivity STUDY [--out DIR] [--workers N] [--memory SIZE] [--scheduler ADDRESS]
    wattyear analyze SWEEP_FOLDER
    wattyear report FOLDER
    wattyear calibrate [CONFIG] [--fit] [--apply] [--report PATH]
    wattyear calibrate CONFIG --posterior --targets CSV [--particles N] [--generations N] [--out DIR]
    wattyear validate OUTCOMES.csv [CONFIG | --posterior DIR] [--scenarios N] [--discrepancy SIGMA [--discrepancy-dof N]] [--out DIR]
    wattyear dash [CONFIG] [--port N] [--host H] [--posterior DIR]
    wattyear params
    wattyear --version

CONFIG is a TOML file or the name of a packaged config (``baseline``,
``colossus_lease``); STUDY a study file or a packaged study's name
(``llama_pressure``, ``sensitivity``). Output goes under ``out/`` in the
working folder, never into the installed package.

A user mistake (bad config, unknown key, bad --set) prints one message per
problem, naming file, key, what was expected and what was found, and exits
with status 2, without a traceback.

This module builds the parser and runs the commands on runs and studies; the words of the command line
become checked values in ``experiments.arguments``, the calibration commands live in
``experiments.calibration.commands`` and the dashboard's in ``experiments.dashboard.command``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wattyear.experiments.arguments import (EXIT_INTERRUPTED, EXIT_MODEL, EXIT_USAGE, MAX_PROBLEMS_SHOWN,
                                            MAX_SCENARIOS, blame_flags, bounded_int, check_out, integer,
                                            log_sd, parse_sets, parse_years, port_number, positive_int,
                                            positive_seconds, seed_number, worker_count)
from wattyear.experiments.calibration.commands import cmd_calibrate, cmd_validate
from wattyear.experiments.dashboard.command import cmd_dash
from wattyear.experiments.studies import memory_size
from wattyear.sim.config import BASELINE, ConfigError, Problem, find_config, load_config
from wattyear.sim.guard import ModelError

def cmd_run(args) -> int:
    overrides = parse_sets(args.set or [])
    flags = {}
    for flag, key, value in (("--months", "run.months", args.months), ("--seed", "run.seed", args.seed)):
        if value is None:
            continue
        if key in overrides and overrides[key] != value:
            raise ConfigError([Problem(flag, key, f"one value: {flag} {value} and --set {key}={overrides[key]} "
                                       "disagree", overrides[key])])
        overrides[key], flags[key] = value, flag
    path = find_config(args.config)
    try:
        config = load_config(path, overrides=overrides)
    except ConfigError as exc:
        raise blame_flags(exc, flags) from None

    from wattyear.experiments.run import identity, run, run_name, summary_text, write_outputs

    # without --out, a run's folder is named after its config and overrides: another scenario never
    # overwrites the baseline's folder (and a rerun of a run folder's config never overwrites that folder)
    config_name, shown = identity(path, overrides)
    out_dir = Path(args.out) if args.out else Path("out") / run_name(config_name, shown)
    if not args.out and out_dir.resolve() == path.parent.resolve():
        out_dir = out_dir.with_name(out_dir.name + "-rerun")
    from wattyear.experiments.folders import check_kind

    check_kind(out_dir, "run")  # before the run: a study's or a comparison's folder is not a run's
    result = run(config, config_name=config_name, overrides=shown)
    files = write_outputs(result, out_dir, plots=not args.no_plots)
    print(summary_text(result))
    print(f"\n{len(result.model.history)} months in {result.seconds:.3f} s (seed {config['run']['seed']}); "
          f"wrote {len(files)} files to {out_dir}/")
    return 0


def cmd_compare(args) -> int:
    from wattyear.experiments.analysis.compare import check_month, compare, default_folder, resolve_input, write_comparison

    check_month(args.at)  # before any run
    if args.out:
        from wattyear.experiments.folders import check_kind

        check_kind(Path(args.out), "comparison")
    runs = [resolve_input(spec) for spec in args.runs]
    comparison = compare(runs, at=args.at)
    out = Path(args.out) if args.out else default_folder(runs)
    files = write_comparison(comparison, out, plots=not args.no_plots)
    print(comparison.markdown())
    print(f"wrote {len(files)} files to {out}/")
    return 0


def cmd_costs(args) -> int:
    from wattyear.experiments.analysis.compare import resolve_input
    from wattyear.experiments.analysis.costs import cost_stack, cost_text, default_years, write_costs

    years = parse_years(args.years) if args.years else None
    spec = args.run or BASELINE.stem
    result = resolve_input(spec)
    stack = cost_stack(result.metrics)
    shown = years or default_years(stack)
    missing = [y for y in shown if y not in set(stack["year"])]
    if missing:
        raise ConfigError([Problem("--years", "years", f"years within the run "
                                   f"({int(stack['year'].min())}-{int(stack['year'].max())})",
                                   ", ".join(str(y) for y in missing))])
    out = Path(args.out) if args.out else (Path(spec) if Path(spec).is_dir() else Path("out") / result.name)
    files = write_costs(result.metrics, result.market, out, shown, plots=not args.no_plots)
    print(cost_text(stack, shown))
    print(f"wrote {len(files)} files to {out}/")
    return 0


def _run_study(study, args, design: str):
    """Run a study's unfinished runs into its folder (``--out``), saying what and where; (folder, report)."""
    from wattyear.experiments.studies.result_folder import study_folder
    from wattyear.experiments.studies.sweep import run_sweep

    out = study_folder(study, args.out, args.adopt)
    print(f"{study.name}: {len(study.runs)} runs ({design}) into {out}/")
    report = run_sweep(study, out, workers=args.workers, scheduler=args.scheduler, resume=True,
                       progress=not args.no_progress, memory_bytes=args.memory, worker_timeout=args.worker_timeout,
                       adopt=args.adopt)
    print(report.line())
    return out, report


def cmd_sweep(args) -> int:
    from wattyear.experiments.studies.study import load_study

    study = load_study(args.study)
    out, report = _run_study(study, args, f"{len(study.runs) // study.replicates} points x {study.replicates} "
                                          "replicates")
    if args.report:
        return max(_write_report(out), 0 if report.failed == 0 else 1)
    return 0 if report.failed == 0 else 1


def _write_report(folder: Path) -> int:
    from wattyear.experiments.analysis.study_data import AnalysisError
    from wattyear.experiments.analysis.report import report

    try:
        files = report(folder)
    except AnalysisError as exc:
        print(f"wattyear: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def cmd_sensitivity(args) -> int:
    from wattyear.experiments.analysis.study_data import AnalysisError
    from wattyear.experiments.analysis.sensitivity import analyze_study, check_analysable
    from wattyear.experiments.studies.study import load_study

    study = load_study(args.study)
    check_analysable(study)
    out, report = _run_study(study, args, f"{study.sample_method} design, {len(study.ranges)} parameters, "
                                          f"{study.replicates} replicate(s)")
    if report.failed:
        print("wattyear: some runs failed (see manifest.jsonl); the analysis needs every design point",
              file=sys.stderr)
        return 1
    try:
        files = analyze_study(out, study)
    except AnalysisError as exc:
        print(f"wattyear: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print((out / "sensitivity.md").read_text())
    print(f"wrote {len(files)} files to {out}/")
    return _write_report(out) if args.report else 0


def cmd_report(args) -> int:
    return _write_report(Path(args.folder))


def cmd_analyze(args) -> int:
    from wattyear.experiments.analysis.study_data import AnalysisError
    from wattyear.experiments.analysis.outcomes import analyze

    folder = Path(args.folder)
    if not (folder / "runs").is_dir():
        raise ConfigError([Problem(str(folder), "runs/", "a sweep result folder (made by wattyear sweep)",
                                   "no runs/ folder")])
    try:
        files = analyze(folder)
    except AnalysisError as exc:
        print(f"wattyear: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {', '.join(f.name for f in files)} to {folder}/")
    print((folder / "analysis.md").read_text())
    return 0


def cmd_params(args) -> int:
    from wattyear.sim.docs import parameter_table

    sys.stdout.write(parameter_table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from wattyear import __version__

    parser = argparse.ArgumentParser(prog="wattyear", description="Agent-based market model of AI-industry economics.")
    parser.add_argument("--version", action="version", version=f"wattyear {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run one config and write metrics, market, plots and a summary")
    p.add_argument("config", nargs="?", help=f"TOML config or packaged config name (default: {BASELINE.stem})")
    p.add_argument("--out", help="output folder (default: out/<config name>[+PATH=VALUE for each override])")
    p.add_argument("--seed", type=integer, help="seed of the model's generator (default: the config's run.seed)")
    p.add_argument("--months", type=positive_int, help="horizon in months (default: the config's run.months)")
    p.add_argument("--set", action="append", metavar="PATH=VALUE",
                   help="override a config value by its dotted path, e.g. labs.anthropic.watts=2e9")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("compare", help="per-lab differences between runs: a table and overlaid plots")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="a run folder, a config (file or packaged name), or NAME+PATH=VALUE… as run folders are "
                        "named; the first is the reference")
    p.add_argument("--out", help="output folder (default: out/compare/<first>--vs--<second>…)")
    p.add_argument("--at", metavar="YYYY-MM", help="the month to compare in (default: the last month all runs share)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("costs", help="each provider's cost stack per million tokens by year, against its revenue")
    p.add_argument("run", nargs="?", metavar="RUN",
                   help=f"a run folder, a config (file or packaged name) or NAME+PATH=VALUE… (default: "
                        f"{BASELINE.stem}, run now)")
    p.add_argument("--out", help="output folder (default: the run folder, or out/<run name>)")
    p.add_argument("--years", metavar="Y,Y,...", help="years to print (default: the first full year, 2030 and "
                                                      "the last); the CSV has every year")
    p.add_argument("--no-plots", action="store_true", help="skip costs.png")
    p.set_defaults(func=cmd_costs)
    p = sub.add_parser("sweep", help="run a study: parameter sweeps x replicates, stored run by run, resumable")
    p.add_argument("study", help="study file (TOML) or packaged study name, e.g. llama_pressure")
    p.add_argument("--out", help="result folder (default: out/<study name>)")
    p.add_argument("--workers", type=worker_count, help="local worker processes (default: all cores; at most 4 a core)")
    p.add_argument("--memory", type=memory_size, default="1GiB", metavar="SIZE",
                   help="memory budget of each worker's ensemble: runs are stepped together as far as it "
                        "goes (default: 1GiB)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--worker-timeout", type=positive_seconds, default=60.0, metavar="SECONDS",
                   help="on Dask, give up after this long without a live worker (default 60)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted sweep (also what rerunning into the same folder does)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--report", action="store_true", help="then write the study's report (wattyear report)")
    p.add_argument("--adopt", action="store_true",
                   help="resume a folder whose runs have no identity.json (from an older wattyear, or removed): "
                        "its runs are taken to come from this study, base config and version as they are now")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("sensitivity", help="a Sobol' (saltelli) or Morris study: run it, then its SALib indices")
    p.add_argument("study", help="study file (TOML) with a saltelli or morris [sample], or a packaged study name, "
                                 "e.g. sensitivity or screening")
    p.add_argument("--out", help="result folder (default: out/<study name>)")
    p.add_argument("--workers", type=worker_count, help="local worker processes (default: all cores; at most 4 a core)")
    p.add_argument("--memory", type=memory_size, default="1GiB", metavar="SIZE",
                   help="memory budget of each worker's ensemble (default: 1GiB)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--worker-timeout", type=positive_seconds, default=60.0, metavar="SECONDS",
                   help="on Dask, give up after this long without a live worker (default 60)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--report", action="store_true", help="then write the study's report (wattyear report)")
    p.add_argument("--adopt", action="store_true",
                   help="resume a folder whose runs have no identity.json (from an older wattyear, or removed): "
                        "its runs are taken to come from this study, base config and version as they are now")
    p.set_defaults(func=cmd_sensitivity)
    p = sub.add_parser("report", help="a self-contained Markdown and HTML report of a run, comparison or study folder")
    p.add_argument("folder", help="a folder made by wattyear run, compare, sweep or sensitivity")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("analyze", help="fan charts, crossing dates, Llama figures and effect sizes of a sweep")
    p.add_argument("folder", help="a sweep's result folder, e.g. out/llama_pressure")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("calibrate", help="compare the baseline with public figures; optionally fit and apply")
    p.add_argument("config", nargs="?", help=f"TOML config or packaged config name (default: {BASELINE.stem})")
    p.add_argument("--fit", action="store_true", help="fit the free behavioural parameters first")
    p.add_argument("--apply", action="store_true",
                   help="fit, then write the fitted values into the config file (a packaged config of an installed "
                        "wattyear: into a copy beside the report)")
    p.add_argument("--report", default="out/calibration/calibration.md", help="where to write the report")
    p.add_argument("--max-evaluations", type=positive_int, default=200, help="model evaluations the fit may use")
    p.add_argument("--posterior", action="store_true",
                   help="Bayesian calibration (ABC-SMC) to --targets: a posterior sample with diagnostics in --out")
    p.add_argument("--targets", metavar="CSV", help="outcomes table to fit to (file or packaged name, e.g. "
                                                     "backtest_targets)")
    p.add_argument("--parameters", metavar="A,B,…", help="dotted paths with bounds in bounds.toml (default: all "
                                                          "that may vary between scenarios)")
    p.add_argument("--affinities", action="store_true",
                   help="also fit the demand affinities --fit fits, over its ranges (the backtest does)")
    p.add_argument("--particles", type=bounded_int(1, MAX_SCENARIOS), default=400,
                   help=f"particles a generation (default 400, at most {MAX_SCENARIOS:,})")
    p.add_argument("--generations", type=bounded_int(1, 100), default=4, help="generations at most (default 4)")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the sampler and the simulations (default 0)")
    p.add_argument("--out", help="posterior folder (default: out/posterior/<config name>)")
    p.set_defaults(func=cmd_calibrate)
    p = sub.add_parser("validate", help="the model's intervals against observed outcomes: ratios and coverage")
    p.add_argument("outcomes", help="outcomes table (CSV: key,metric,agent,start,end,value,source), or a packaged "
                                    "one, e.g. backtest_holdout")
    p.add_argument("config", nargs="?", help=f"config whose seeds give the scenarios (default: {BASELINE.stem})")
    p.add_argument("--posterior", metavar="DIR", help="draw the scenarios from this posterior sample instead")
    p.add_argument("--scenarios", type=bounded_int(1, MAX_SCENARIOS), default=50,
                   help=f"scenarios (seeds, or posterior draws; default 50, at most {MAX_SCENARIOS:,})")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the draws and of the runs' seeds (default 0)")
    p.add_argument("--discrepancy", type=log_sd, default=0.0, metavar="SIGMA",
                   help="widen the model's bands by a log-normal model error of this sd (docs/validation.md sizes it "
                        "from earlier forecasts' misses: 0.56 from 12 figures; default 0: seeds and parameters only)")
    p.add_argument("--discrepancy-dof", type=bounded_int(1, 100_000), default=None, metavar="N",
                   help="the number of residuals SIGMA was estimated from: the term gets Student's t tails with N "
                        "degrees of freedom (default: normal tails, as if SIGMA were known)")
    p.add_argument("--out", help="output folder (default: out/validation/<table name>)")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("dash", help="the interactive dashboard in the browser (extra [dash])")
    p.add_argument("config", nargs="?", help=f"TOML config or packaged config name (default: {BASELINE.stem})")
    p.add_argument("--port", type=port_number, default=8765, help="port to listen on (default 8765)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the "
                        "network, without a login)")
    p.add_argument("--posterior", metavar="DIR",
                   help="a posterior folder (wattyear calibrate --posterior): compare with its 5-95%% band")
    p.set_defaults(func=cmd_dash)
    p = sub.add_parser("params", help="print the parameter table (Markdown)")
    p.set_defaults(func=cmd_params)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    args = build_parser().parse_args(argv)
    # numpy's overflow and invalid-value warnings are noise here: the run-time guard checks every month's
    # numbers and stops a run, naming the month, agent and quantity, before any bad number is reported
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"wattyear\..*")
    try:
        check_out(args)
        return args.func(args)
    except ConfigError as exc:
        print(f"wattyear: {exc.kind}:", file=sys.stderr)
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            print(f"  {problem}", file=sys.stderr)
        if len(exc.problems) > MAX_PROBLEMS_SHOWN:
            print(f"  … and {len(exc.problems) - MAX_PROBLEMS_SHOWN:,} more", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as exc:  # the run-time guard stopped a run: a config the model cannot compute
        print(f"wattyear: the run stopped: {exc}. The model cannot compute this config's values there; "
              "nothing was written for the run (see 'When things go wrong' in the README)", file=sys.stderr)
        return EXIT_MODEL
    except OSError as exc:  # a file that cannot be written, made or read: its name and what the system said
        from wattyear.experiments.studies.folder_files import WriteError

        name = exc.filename or ""
        if isinstance(exc, WriteError):  # (raised where a result is written: the verb is known)
            print(f"wattyear: cannot write {name}: {exc.strerror or exc}", file=sys.stderr)
        else:
            print(f"wattyear: {name + ': ' if name else ''}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nwattyear: interrupted; finished runs are kept (a sweep resumes where it stopped)",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
