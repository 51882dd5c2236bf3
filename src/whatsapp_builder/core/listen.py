"""Binding a server's port before anything else, with one clear sentence when it cannot be had."""

from __future__ import annotations

import errno
import socket


class PortUnavailable(Exception):
    """The port is taken, or the address is not this machine's: the message says which, for a person."""


def listen(host: str, port: int, *, what: str, option: str = "--port") -> socket.socket:
    """A listening socket on host:port (hand it to uvicorn), or PortUnavailable. `what` names the server
    ("whatsapp-builder serve") in the message about a busy port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048, dualstack_ipv6=host == "::")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(
                f"port {port} on {host} is already in use (another {what}?): stop it, or use {option}"
            ) from None
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
