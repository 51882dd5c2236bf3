"""Which JSON bodies can be read as they are sent: UTF-8 (RFC 8259 section 8.1), and not compressed.

A body labelled `charset=utf-16` (or any charset but UTF-8), or sent with a `Content-Encoding` (gzip, br,
deflate), was read as if it were plain UTF-8 JSON: a gzipped body became a 400 "not valid JSON", and a body in
another charset was taken whenever its bytes happened to read as UTF-8 too. Neither is something this server
decodes, so both are refused as 415 (RFC 9110 section 15.5.16: an unsupported content coding is a 415), with a
message saying what to send instead. `application/json` with no charset, or with `charset=utf-8` (or `utf8`,
another label of UTF-8) in any case, quoted or not, is what every client sends (the web app, curl, Meta's
webhooks) and stays as it was.

Used in one place per kind of body: the /api routes' `JsonRequest` (core/routing.py) and the webhook's
`handle_delivery` (whatsapp/webhook_intake.py)."""

from __future__ import annotations

# The labels of UTF-8 (the WHATWG Encoding Standard's list, what browsers and most libraries take): `charset=utf8`
# names the same bytes as `charset=utf-8`, and was read as such before the 415 came.
UTF8_LABELS = frozenset({"utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"})
IDENTITY = "identity"


def charset_of(content_type: str) -> str | None:
    """The `charset` parameter of a Content-Type value (lowercase, unquoted), or None when it has none."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').strip().lower()
    return None


def unreadable_body(content_type: str | None, content_encodings: list[str]) -> str | None:
    """Why a JSON body sent with this Content-Type and these Content-Encoding headers (each as sent, possibly a
    comma-separated list) cannot be read, for a 415; None when it can."""
    codings = [c.strip().lower() for value in content_encodings for c in value.split(",")]
    unsupported = [c for c in codings if c and c != IDENTITY]
    if unsupported:
        return (
            f"Content-Encoding {', '.join(unsupported)} is not supported: send the JSON body uncompressed, without"
            " a Content-Encoding header."
        )
    charset = charset_of(content_type) if content_type else None
    if charset is not None and charset not in UTF8_LABELS:
        shown = charset[:40] or "(empty)"
        return (
            f"The charset {shown} is not supported: JSON is UTF-8 (RFC 8259). Send the body in UTF-8, as"
            " Content-Type: application/json or application/json; charset=utf-8."
        )
    return None
