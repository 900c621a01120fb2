"""The ``wattyear dash`` command: check the config (and posterior) and the address, then serve the
SolaraViz page (extra ``[dash]``)."""

from __future__ import annotations

import sys
from pathlib import Path

from wattyear.experiments.arguments import EXIT_USAGE
from wattyear.sim.config import find_config, load_config

def _port_free(host: str, port: int) -> str | None:
    """None if the dashboard can listen on host:port, else why not."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will (old connections don't block)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def cmd_dash(args) -> int:
    import os

    path = find_config(args.config)
    load_config(path)  # a bad config is refused here, with the usual message, before any server starts
    if args.posterior:  # its draws must read and apply to this config: found here, not in the page
        from wattyear.experiments.dashboard.model import check_posterior

        check_posterior(load_config(path), args.posterior)
    try:
        import mesa.visualization  # noqa: F401
        import solara  # noqa: F401
        from solara.__main__ import cli as solara_cli
    except ImportError as exc:
        print(f"wattyear: the dashboard needs the [dash] extra ({exc.name} is missing): "
              "pip install 'wattyear[dash]'", file=sys.stderr)
        return EXIT_USAGE
    problem = _port_free(args.host, args.port)
    if problem:
        hint = "choose another with --port" if "in use" in problem else "check --host"
        print(f"wattyear: cannot listen on {args.host}:{args.port}: {problem} ({hint})", file=sys.stderr)
        return EXIT_USAGE
    os.environ["WATTYEAR_DASH_CONFIG"] = str(path.resolve())
    if args.posterior:
        os.environ["WATTYEAR_DASH_POSTERIOR"] = str(Path(args.posterior).resolve())
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")  # no usage reports leave the machine
    import warnings

    # Solara's note that its session cookie falls back to SameSite=Lax over plain http on localhost: expected
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"wattyear: listening on {args.host}: anyone who can reach this address can use the dashboard "
              "(it has no login)", file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address is bracketed in a URL
    print(f"wattyear: dashboard of {path.stem} at http://{host}:{args.port} (Ctrl-C stops it)", flush=True)
    solara_cli.main(["run", "wattyear.experiments.dashboard.app", "--host", args.host, "--port", str(args.port),
                      "--production", "--no-open", "--no-check-version", "--log-level", "warning"],
                     prog_name="wattyear dash", standalone_mode=True)
    return 0
