"""The web builder's offline copy of the node schemas (used when the API's catalog cannot be fetched) is the
server's own."""

from __future__ import annotations

import json
from pathlib import Path

from whatsapp_builder.flows.schemas import NODE_SCHEMAS

FALLBACK = Path(__file__).resolve().parents[2] / "web" / "src" / "builder" / "nodeSchemas.fallback.json"


def test_the_web_builders_fallback_schemas_are_the_servers() -> None:
    assert json.loads(FALLBACK.read_text(encoding="utf-8")) == NODE_SCHEMAS, (
        "regenerate: python -c 'import json; from whatsapp_builder.flows.schemas import NODE_SCHEMAS;"
        " print(json.dumps(NODE_SCHEMAS))' > web/src/builder/nodeSchemas.fallback.json"
    )
