"""Media the simulated customers send: uploaded to the simulator, then served as WhatsApp serves media.

WhatsApp names a customer's photo by a media id; `GET /{version}/{media-id}` gives a download URL that only works
with the access token. The simulator does the same with what `POST /_simulator/media` stored (the CLI's
`simulator send --image FILE` uploads it), so the server's media route can be tried without a Meta account.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass

# WhatsApp's limit for an image is 5 MB, for a video 16 MB; the simulator takes up to the larger.
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
# What WhatsApp takes as an image (`simulator send --image`); the upload itself takes any file, to try what a
# server does with odd ones.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
MAX_IMAGE_BYTES = 5 * 1024 * 1024
# What the simulator keeps in memory; the oldest go first.
MAX_STORED_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class StoredMedia:
    media_id: str
    data: bytes
    mime_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class MediaStore:
    def __init__(self, limit_bytes: int = MAX_STORED_BYTES) -> None:
        self._limit = limit_bytes
        self._items: OrderedDict[str, StoredMedia] = OrderedDict()
        self._bytes = 0

    def put(self, data: bytes, mime_type: str) -> StoredMedia:
        # Numeric, like WhatsApp's media ids (1013859600285441).
        media = StoredMedia(str(10**15 + secrets.randbelow(9 * 10**15)), data, mime_type)
        self._items[media.media_id] = media
        self._bytes += len(data)
        while self._bytes > self._limit and len(self._items) > 1:
            _, oldest = self._items.popitem(last=False)
            self._bytes -= len(oldest.data)
        return media

    def get(self, media_id: str) -> StoredMedia | None:
        return self._items.get(media_id)
