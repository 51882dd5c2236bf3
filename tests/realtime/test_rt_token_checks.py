"""Realtime.close_revoked decides on the clients it asked the database about (unit: a fake session and server)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from whatsapp_builder.realtime.server import Realtime

REVOKED, GOOD, NEW = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


class FakeSio:
    def __init__(self) -> None:
        self.disconnected: list[str] = []

    def on(self, *_: Any) -> None:
        pass

    async def disconnect(self, sid: str) -> None:
        self.disconnected.append(sid)


async def test_a_client_that_connects_during_the_check_is_not_closed() -> None:
    realtime: Realtime

    class Session:
        async def scalars(self, _: Any) -> Any:
            # a client connects with a valid token while the database answers about the others
            realtime._clients["late"] = NEW
            return SimpleNamespace(all=lambda: [GOOD])

    @contextlib.asynccontextmanager
    async def sessions() -> AsyncIterator[Session]:
        yield Session()

    sio = FakeSio()
    realtime = Realtime(SimpleNamespace(sessions=sessions), sio)  # type: ignore[arg-type]
    realtime._clients.update({"revoked": REVOKED, "good": GOOD})
    assert await realtime.close_revoked() == 1
    assert sio.disconnected == ["revoked"]
    assert realtime._clients == {"good": GOOD, "late": NEW}
