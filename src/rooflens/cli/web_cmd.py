"""`rooflens web`: the local web viewer."""

from __future__ import annotations

import errno
import ipaddress
import socket
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
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A name requests may reach this server by, besides its address (a DNS name "
            "of this machine; repeatable). Other names are refused: a page elsewhere could "
            "point one at this machine and read the API."
        ),
    ] = None,
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
    # An IPv6 address goes in brackets in a URL (http://[::1]:8000/).
    bare = host.strip("[]")
    url = f"http://[{bare}]:{port}/" if ":" in bare else f"http://{host}:{port}/"
    names = [name.strip().lower() for name in allow_host or []]
    for name in names:  # before the socket is bound, as every other refusal is
        if not name or any(c.isspace() or c in "/:@" for c in name):
            raise InvalidInputError("--allow-host", name, "a host name, e.g. myserver.example")
    # Bound here, before saying where it serves: a port in use or an address this machine
    # lacks was uvicorn's own log line and exit 3, after "viewer on ..." was printed.
    listening = _bind(host, port)
    everywhere = _unspecified(bare)
    # Requests naming this machine (loopback, the address bound, the names given) are served;
    # bound to every interface, also any address given as the Host and the machine's own name.
    own = (socket.gethostname().lower(), socket.getfqdn().lower()) if everywhere else ()
    allowed = tuple(dict.fromkeys((*LOOPBACK_HOSTS, host_name(host), *own, *names)))
    if host_name(host) not in LOOPBACK_HOSTS:
        reached = (
            "by any of this machine's addresses or by "
            + ", ".join(n for n in allowed if n not in LOOPBACK_HOSTS and n != host_name(host))
            if everywhere
            else f"as {', '.join(n for n in allowed if n not in LOOPBACK_HOSTS)}"
        )
        err_console.print(
            f"warning: serving on {host}, beyond this machine: anyone who can reach it can use "
            f"the viewer and its API (there is no login); it answers requests {reached} (more "
            "names: --allow-host)",
            style="yellow",
        )
    _console().print(f"rooflens web viewer on {url} (Ctrl+C stops it); API reference: {url}docs")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, (url,)).start()
    config = uvicorn.Config(create_app(allowed, any_address=everywhere), log_level="warning")
    uvicorn.Server(config).run(sockets=[listening])


def _unspecified(address: str) -> bool:
    """An address that listens on every interface (0.0.0.0, ::, 0, ::0 ...)."""
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return address in ("", "0")


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` as uvicorn binds one (IPv6 for an address with colons,
    else IPv4, a name resolved as such), or one error line naming the option at fault."""
    bare = host.strip("[]")
    listening = None
    try:
        # Made inside: a machine without IPv6 refuses the socket itself.
        listening = socket.socket(socket.AF_INET6 if ":" in bare else socket.AF_INET)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((bare, port))
    except (OSError, UnicodeError) as exc:
        if listening is not None:
            listening.close()
        if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
            raise InvalidInputError(
                "--port", port, f"a port free on {host} (this one is in use)"
            ) from None
        if isinstance(exc, socket.gaierror | UnicodeError):
            raise InvalidInputError(
                "--host", host, "an address or host name this machine resolves"
            ) from None
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InvalidInputError("--host", host, f"an address of this machine ({why})") from None
    return listening
