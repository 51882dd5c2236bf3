"""API tokens: random, shown once, stored as SHA-256 (they carry 256 bits of entropy, so no slow hash is needed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from pathlib import Path

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_builder.auth.models import ApiToken

TOKEN_PREFIX = "wab_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, name: str) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(name=name, token_hash=hash_token(token), prefix=token[: len(TOKEN_PREFIX) + 6])
    session.add(record)
    await session.flush()
    return record, token


LAST_USED_PRECISION = dt.timedelta(minutes=1)
"""How stale a token's `lastUsedAt` may get: a busy client writes it once a minute, not on every request."""


async def find_valid_token(session: AsyncSession, token: str) -> ApiToken | None:
    """The unrevoked token, its `lastUsedAt` moved to now when older than `LAST_USED_PRECISION` (the caller
    commits)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    result = await session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
    record = result.scalar_one_or_none()
    now = dt.datetime.now(dt.UTC)
    if record is not None and (record.last_used_at is None or now - record.last_used_at >= LAST_USED_PRECISION):
        await session.execute(update(ApiToken).where(ApiToken.id == record.id).values(last_used_at=now))
    return record


async def list_tokens(
    session: AsyncSession, *, limit: int, before: tuple[dt.datetime, uuid.UUID] | None
) -> list[ApiToken]:
    """Newest first, `limit` of them, after the (createdAt, id) of the last one of the previous page."""
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc()).limit(limit)
    if before is not None:
        query = query.where(tuple_(ApiToken.created_at, ApiToken.id) < tuple_(*before))
    return list((await session.execute(query)).scalars())


async def revoke_token(session: AsyncSession, token_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=dt.datetime.now(dt.UTC))
        .returning(ApiToken.id)
    )
    return result.first() is not None


SIGN_IN_TOKEN_NAME = "sign-in link (serve)"
SIGN_IN_TOKEN_FILE = "sign-in.token"


async def sign_in_token(session: AsyncSession, data_dir: Path) -> str:
    """The token of the link `serve` prints: the one kept in the data folder while the database still accepts
    it, else a new one, kept there. A restart, or another `serve` on the same folder, prints the same link and
    signs no one out (each start used to revoke the previous link, and so every other process's); revoking the
    token (Settings, `DELETE /api/tokens/{id}`) makes the next start print a new one."""
    kept = data_dir / SIGN_IN_TOKEN_FILE
    if kept.is_file():
        token = kept.read_text(encoding="utf-8", errors="replace").strip()
        if await find_valid_token(session, token) is not None:
            await session.commit()
            return token
    _, token = await create_token(session, SIGN_IN_TOKEN_NAME)
    await session.commit()
    written = kept.with_suffix(".tmp")
    written.unlink(missing_ok=True)
    written.touch(mode=0o600)
    written.write_text(token, encoding="utf-8")
    written.replace(kept)
    return token
