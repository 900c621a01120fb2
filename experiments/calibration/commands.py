"""The ``wattyear calibrate`` and ``wattyear validate`` commands: the baseline against public figures (and
its least-squares fit), the ABC posterior, and a config's or posterior's intervals against observed
outcomes."""

from __future__ import annotations

import math

from pathlib import Path

from wattyear.experiments.calibration.outcomes import find_table
from wattyear.sim.config import (BASELINE, SOURCE_CHECKOUT, ConfigError, Problem, find_config, is_packaged,
                                 load_config, value_at)

def cmd_calibrate(args) -> int:
    import json

    from wattyear.experiments.calibration import least_squares as calibration

    path = find_config(args.config)
    config = load_config(path)
    if args.posterior:
        return _calibrate_posterior(args, path)
    report_file(args.report)  # before the fit: nothing is written before a mistake is found
    calibration.check_world(config, str(path))
    if args.apply:  # a file --apply cannot write is refused before the fit runs and before anything is written
        calibration.fitted_text(path, {p.path: value_at(config, p.path) for p in calibration.FREE})
    fit_result = None
    if args.fit or args.apply:
        fit_result = calibration.fit(config, max_evaluations=args.max_evaluations)
        print(f"fit: {fit_result.evaluations} evaluations, cost {fit_result.cost:.4g} ({fit_result.message})")
        for name, value in fit_result.fitted.items():
            print(f"  {name} = {value:.4g}")
        out = Path(args.report).parent
        out.mkdir(parents=True, exist_ok=True)
        (out / "fit.json").write_text(json.dumps({"start": fit_result.start, "fitted": fit_result.fitted,
                                                  "residuals": fit_result.residuals, "cost": fit_result.cost,
                                                  "evaluations": fit_result.evaluations}, indent=2) + "\n")
    if args.apply:
        text = calibration.fitted_text(path, fit_result.fitted)  # checked before anything is written
        if is_packaged(path) and not SOURCE_CHECKOUT:
            # never write into the installed package: the fitted config goes beside the report
            target = Path(args.report).parent / f"{path.stem}.fitted.toml"
            if target.exists() and not target.read_text().startswith(calibration.FITTED_HEADER):
                raise ConfigError([Problem(str(target), "(file)", "no file, or a fitted copy made by wattyear "
                                           "calibrate --apply (another --report folder keeps yours)",
                                           "another file")])
            target.parent.mkdir(parents=True, exist_ok=True)
            text = f"{calibration.FITTED_HEADER} the packaged {path.name} with fitted values\n{text}"
            path = target
        path.write_text(text)
        config = load_config(path)
        print(f"wrote the fitted values into {path}")
    try:
        name = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        name = str(path)
    text = calibration.report(config, fit_result, config_name=name, applied=args.apply)
    report_path = Path(args.report)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(text)
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.endswith(("| yes |", "| **no** |"))]
    misses = [row.split("|")[1].strip() for row in rows if row.endswith("| **no** |")]
    print(f"{len(rows) - len(misses)} of {len(rows)} targets within the promised error; report: {report_path}")
    for name in misses:
        print(f"  outside: {name}")
    return 0


def report_file(text: str) -> Path:
    """The file ``--report`` names, checked before anything runs: a file name (not empty, not a folder) whose
    folders are folders."""
    path = Path(text)
    problem = None
    if not str(text).strip():
        problem = "nothing (leave --report out for the default)"
    elif path.is_dir() or str(text).endswith(("/", "\\")):
        problem = "a folder"
    elif path.exists() and not path.is_file():
        problem = "not a regular file (a device, pipe or socket)"
    else:
        blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocked is not None:
            problem = f"a path through {blocked}, which is not a folder"
    if problem:
        raise ConfigError([Problem("--report", "--report", "a file name for the report (Markdown; fit.json goes "
                                   "beside it)", problem)])
    return path


def _calibrate_posterior(args, path: Path) -> int:
    from wattyear.experiments.calibration.posterior import calibrate

    if not args.targets:
        raise ConfigError([Problem("--targets", "(file)", "an outcomes table to fit to (with --posterior)",
                                   "none given")])
    targets = find_table(args.targets)
    if args.parameters is not None and not any(p.strip() for p in args.parameters.split(",")):
        raise ConfigError([Problem("--parameters", "--parameters", "dotted paths A,B,… (leave the flag out for "
                                   "every parameter with bounds)", args.parameters)])
    paths = [p.strip() for p in args.parameters.split(",")] if args.parameters else None
    twice = sorted({p for p in paths or [] if paths.count(p) > 1})
    if twice:
        raise ConfigError([Problem("--parameters", "--parameters", "each parameter once", ", ".join(twice) + " twice")])
    extra = None
    if args.affinities:
        from wattyear.experiments.calibration.least_squares import FREE
        from wattyear.sim.config import field_at

        extra = {f.path: (f.low, f.high) for f in FREE if field_at(f.path).varies}
    out = Path(args.out) if args.out else Path("out") / "posterior" / path.stem
    report = lambda g, gen: print(f"generation {g}: tolerance {gen.epsilon:.3g}, {gen.simulations} simulations, "  # noqa: E731
                                  f"acceptance {gen.acceptance:.1%}, effective sample size {gen.ess:.0f}")
    post = calibrate(path, targets, out, paths=paths, extra=extra, particles=args.particles,
                     generations=args.generations, seed=args.seed, progress=report)
    print(post.quantiles().rename(columns=lambda q: f"{q:.0%}").to_string())
    print(f"wrote the posterior sample and its diagnostics to {out}/")
    return 0


def cmd_validate(args) -> int:
    from wattyear.experiments.calibration.validate import validate
    from wattyear.experiments.folders import claim

    table = find_table(args.outcomes)
    if args.posterior and args.config:
        raise ConfigError([Problem("--posterior", args.posterior, "either a posterior folder or a config, not both",
                                   f"both ({args.config})")])
    if args.discrepancy_dof is not None and args.discrepancy == 0:
        raise ConfigError([Problem("--discrepancy-dof", args.discrepancy_dof, "a --discrepancy SIGMA to give the "
                                   "tails of (the residuals SIGMA was read off)", "no --discrepancy")])
    out = Path(args.out) if args.out else Path("out") / "validation" / table.stem
    claim(out, "validation")  # before the runs: a run's, a comparison's, a study's or a posterior's folder is not one
    result = validate(table, config=args.config, posterior=args.posterior, scenarios=args.scenarios, seed=args.seed,
                      discrepancy=args.discrepancy,
                      discrepancy_dof=math.inf if args.discrepancy_dof is None else args.discrepancy_dof)
    source = f"posterior {args.posterior}" if args.posterior else f"config {args.config or BASELINE.stem}"
    text = result.markdown(f"Validation: {table.name} against {source}")
    out.mkdir(parents=True, exist_ok=True)
    result.rows.to_csv(out / "validation.csv", index=False)
    (out / "validation.md").write_text(text)
    print(text)
    print(f"wrote validation.csv and validation.md to {out}/")
    return 0
