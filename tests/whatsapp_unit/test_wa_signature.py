import hashlib
import hmac

from whatsapp_builder.whatsapp.signature import SignatureCheck, sign, verify

BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_sign_matches_hmac_sha256() -> None:
    expected = hmac.new(b"secret", BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, "secret") == f"sha256={expected}"


def test_verify_ok_missing_invalid() -> None:
    header = sign(BODY, "secret")
    assert verify(BODY, header, "secret") is SignatureCheck.OK
    assert verify(BODY, header.upper().replace("SHA256=", "sha256="), "secret") is SignatureCheck.OK
    assert verify(BODY, None, "secret") is SignatureCheck.MISSING
    assert verify(BODY, "", "secret") is SignatureCheck.MISSING
    assert verify(BODY, header, "other") is SignatureCheck.INVALID
    assert verify(BODY + b" ", header, "secret") is SignatureCheck.INVALID
    assert verify(BODY, header.removeprefix("sha256="), "secret") is SignatureCheck.INVALID
    assert verify(BODY, "sha256=zz\u00e9", "secret") is SignatureCheck.INVALID
