"""`rooflens web`: the local web viewer."""

from __future__ import annotations

import threading
import webbrowser
from typing import Annotated

import typer

from rooflens.cli.common import _clean_errors, _console, app, err_console
from rooflens.core.errors import InvalidInputError


@app.command()
@_clean_errors
def web(
    host: Annotated[
        str, typer.Option(help="Address to listen on; the default serves this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in a browser.")
    ] = False,
) -> None:
    """Serve the web viewer: pick a model and a device, see the operator graph, roofline,
    memory, batch and sequence curves, and compare two configurations."""
    import uvicorn

    from rooflens.web import create_app
    from rooflens.web.app import LOOPBACK_HOSTS, host_name

    if not host.strip() or any(c.isspace() for c in host):
        raise InvalidInputError("--host", host, "an address or host name, e.g. 127.0.0.1")
    url = f"http://{host}:{port}/"
    if host_name(host) not in LOOPBACK_HOSTS:
        err_console.print(
            f"warning: serving on {host}, beyond this machine: anyone who can reach it can use "
            "the viewer and its API (there is no login); requests must name this address",
            style="yellow",
        )
    allowed = tuple(dict.fromkeys((*LOOPBACK_HOSTS, host_name(host))))
    _console().print(f"rooflens web viewer on {url} (Ctrl+C stops it); API reference: {url}docs")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, (url,)).start()
    uvicorn.run(create_app(allowed), host=host, port=port, log_level="warning")
