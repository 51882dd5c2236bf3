"""The OpenAPI document without a running server or database (the web UI's typed client is generated from it)."""

from __future__ import annotations

import json
import sys
from typing import Any

from whatsapp_builder.app import create_app
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.settings import Settings


def export() -> dict[str, Any]:
    settings = Settings(secret_key="openapi-export", database_url="postgresql://unused@127.0.0.1:1/unused")
    context = AppContext.create(settings, "postgresql://unused@127.0.0.1:1/unused")
    return create_app(context).openapi()


if __name__ == "__main__":
    json.dump(export(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
