"""``twin dashboard``: the browser dashboard (``webapp``) on a local server."""

from __future__ import annotations

from pathlib import Path

import typer

from twin.cli.common import app, guarded, warn


@app.command()
@guarded
def dashboard(
    layout: Path = typer.Argument(None, help="layout YAML to open (default: the 1 GW reference campus)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (0.0.0.0 serves the network)"),
    port: int = typer.Option(8050, "--port", help="TCP port"),
) -> None:
    """Serve the interactive dashboard: the facility in 3D, KPIs, what-ifs, power flow, tables, compare A/B.
    For a team, run the same app under a WSGI server: `gunicorn webapp.app:server`."""
    import threading

    from werkzeug.serving import make_server

    from twin import Scenario
    from webapp.app import DEFAULT_LAYOUT, create_app

    path = Path(layout) if layout else DEFAULT_LAYOUT
    scenario = Scenario(layout=str(path))
    scenario.model()  # bad layout: the CLI's problem lines, exit 2
    if host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"serving on {host}: anyone who can reach this address can run scenarios (no authentication)")
    dash_app = create_app(path)
    # warm the cache with the layout's base scenario so the first page is quick
    threading.Thread(target=dash_app._twin_cache.get_or_run, args=(scenario,), daemon=True).start()
    server = make_server(host, port, dash_app.server, threaded=True)
    typer.echo(f"twin dashboard: {path} on http://{host}:{server.port}/ (Ctrl+C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
