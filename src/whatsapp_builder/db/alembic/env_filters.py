"""What Alembic compares: our tables, not the job queue's, whose own schema installer owns them."""

from __future__ import annotations

FOREIGN_TABLE_PREFIXES = ("procrastinate_",)


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    if type_ == "table" and name is not None and name.startswith(FOREIGN_TABLE_PREFIXES):
        return False
    table = getattr(obj, "table", None)
    table_name = getattr(table, "name", "") or ""
    return not table_name.startswith(FOREIGN_TABLE_PREFIXES)
