"""Standard Webhooks signing, checked against the reference ``standardwebhooks`` library."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.webhooks.signing import (
    SECRET_PREFIX,
    new_secret,
    signature,
    signature_header,
    webhook_headers,
)
from tests.webhooks.receiver import Receiver

BODY = json.dumps({"event": "case.transitioned", "case_id": "c-1", "to": "approved"}).encode()
MSG_ID = "msg_2b7f0c9e"


def now() -> int:
    return int(time.time())


def test_headers_signed_with_secret_verify_with_reference_library():
    secret = new_secret()
    ts = now()
    headers = webhook_headers([secret], MSG_ID, ts, BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"}
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == MSG_ID
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_signature_matches_reference_library_sign():
    secret = new_secret()
    ts = now()
    from datetime import datetime, timezone

    expected = Webhook(secret).sign(MSG_ID, datetime.fromtimestamp(ts, tz=timezone.utc), BODY.decode())
    assert signature(secret, MSG_ID, ts, BODY) == expected
    assert signature(secret, MSG_ID, ts, BODY).startswith("v1,")


def test_wrong_secret_fails_verification():
    headers = webhook_headers([new_secret()], MSG_ID, now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_two_signatures_verify_with_either_secret():
    old, new = new_secret(), new_secret()
    headers = webhook_headers([old, new], MSG_ID, now(), BODY)
    sigs = headers["webhook-signature"].split(" ")
    assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs)
    assert Webhook(old).verify(BODY, headers) == json.loads(BODY)
    assert Webhook(new).verify(BODY, headers) == json.loads(BODY)


def test_two_signatures_with_third_secret_fails():
    headers = webhook_headers([new_secret(), new_secret()], MSG_ID, now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_tampered_body_fails_verification():
    secret = new_secret()
    headers = webhook_headers([secret], MSG_ID, now(), BODY)
    tampered = BODY.replace(b"approved", b"rejected")
    assert tampered != BODY
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)


def test_changed_msg_id_fails_verification():
    secret = new_secret()
    headers = webhook_headers([secret], MSG_ID, now(), BODY)
    headers["webhook-id"] = "msg_other"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


def test_timestamp_header_is_the_one_signed():
    secret = new_secret()
    ts = now()
    headers = webhook_headers([secret], MSG_ID, ts, BODY)
    assert headers["webhook-timestamp"] == str(ts)
    # A different (still fresh) timestamp in the header breaks the signature.
    headers["webhook-timestamp"] = str(ts - 60)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


def test_stale_timestamp_rejected_by_reference_library():
    secret = new_secret()
    headers = webhook_headers([secret], MSG_ID, now() - 3600, BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_signature_header_keeps_secret_order():
    a, b = new_secret(), new_secret()
    ts = now()
    assert (
        signature_header([a, b], MSG_ID, ts, BODY)
        == f"{signature(a, MSG_ID, ts, BODY)} {signature(b, MSG_ID, ts, BODY)}"
    )


def test_new_secret_has_prefix_and_32_byte_key():
    secret = new_secret()
    assert secret.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)) == 32
    assert new_secret() != secret


@pytest.mark.parametrize(
    "bad",
    [
        "",
        base64.b64encode(b"k" * 32).decode(),  # no prefix
        "whsec_",
        "whsec_not*base64*at*all!!",
        "whsec_" + base64.b64encode(b"short").decode(),  # decodes, but far too short a key
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # too long
    ],
)
def test_bad_secret_raises_value_error_without_secret(bad: str):
    with pytest.raises(ValueError) as info:
        signature(bad, MSG_ID, now(), BODY)
    message = str(info.value)
    assert message
    secret_part = bad.removeprefix(SECRET_PREFIX)
    if secret_part:
        assert secret_part not in message
        assert secret_part[:8] not in message


def test_non_str_secret_raises_value_error():
    with pytest.raises(ValueError):
        signature(b"whsec_abc", MSG_ID, now(), BODY)  # type: ignore[arg-type]


def test_bad_secret_among_several_raises_value_error():
    with pytest.raises(ValueError):
        webhook_headers([new_secret(), "whsec_###"], MSG_ID, now(), BODY)


def test_empty_secret_list_raises_value_error():
    with pytest.raises(ValueError):
        webhook_headers([], MSG_ID, now(), BODY)


def test_single_str_instead_of_list_raises_value_error():
    with pytest.raises(ValueError):
        webhook_headers(new_secret(), MSG_ID, now(), BODY)  # type: ignore[arg-type]


def test_unpadded_secret_accepted_and_verifies():
    secret = new_secret().rstrip("=")
    headers = webhook_headers([secret], MSG_ID, now(), BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


# -- the test receiver ------------------------------------------------------------------------


def test_receiver_signed_post_is_verified_and_parsed():
    secret = new_secret()
    with Receiver() as r, httpx.Client() as client:
        resp = client.post(r.url, content=BODY, headers=webhook_headers([secret], MSG_ID, now(), BODY))
        assert resp.status_code == 200
        assert r.verified(secret) == [json.loads(BODY)]
        (got,) = r.received
        assert got.method == "POST" and got.path == "/hook" and got.body == BODY
        assert got.headers["webhook-id"] == MSG_ID
        with pytest.raises(WebhookVerificationError):
            r.verified(new_secret())


def test_receiver_unsigned_post_fails_verified():
    with Receiver() as r, httpx.Client() as client:
        client.post(r.url, content=BODY, headers={"content-type": "application/json"})
        with pytest.raises(WebhookVerificationError):
            r.verified(new_secret())


def test_receiver_respond_with_500_500_then_200():
    with Receiver() as r, httpx.Client() as client:
        r.respond_with(500, 500)
        statuses = [client.post(r.url, content=BODY).status_code for _ in range(4)]
        assert statuses == [500, 500, 200, 200]
        assert [x.status for x in r.received] == [500, 500, 200, 200]


def test_receiver_redirect_sets_location():
    with Receiver() as r, httpx.Client(follow_redirects=False) as client:
        r.respond_with(307, then=410, redirect_to="http://example.invalid/elsewhere")
        first = client.post(r.url, content=BODY)
        assert first.status_code == 307
        assert first.headers["location"] == "http://example.invalid/elsewhere"
        assert client.post(r.url, content=BODY).status_code == 410


def test_receiver_delay_slows_response():
    with Receiver() as r, httpx.Client() as client:
        r.respond_with(delay=0.2)
        started = time.monotonic()
        client.post(r.url, content=BODY)
        assert time.monotonic() - started >= 0.2


async def test_receiver_in_async_test_does_not_block_loop():
    secret = new_secret()
    with Receiver() as r:
        async with httpx.AsyncClient() as client:
            resp = await client.post(r.url, content=BODY, headers=webhook_headers([secret], MSG_ID, now(), BODY))
        assert resp.status_code == 200
        assert len(await r.wait_for(1, timeout=2)) == 1
        assert r.verified(secret) == [json.loads(BODY)]


def test_receiver_stopped_refuses_connections():
    r = Receiver()
    r.start()
    url = r.url
    r.stop()
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.post(url, content=BODY)
