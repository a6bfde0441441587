"""No secret of a connection string survives into a message (pq.store.redact)."""

from __future__ import annotations

import pytest

from pq.settings import Settings
from pq.store.redact import describe_url, redact, redact_url_error

URLS = [
    "postgresql://bob:s3cret@db.example:5432/app",
    "postgresql://bob:s3cret@db.example:5432/app?sslpassword=k3y",
    "postgres://bob:s3cret@[::1/app",  # fails to parse
    "postgresql://bob:s3cret@db.example/app?bogus=1",  # fails to parse
    "postgresq://bob:s3cret@db.example/app",  # a typo of the scheme
    "host=db.example user=bob password=s3cret sslpassword=k3y dbname=app",
    "host=db.example user=bob password='s3cret' dbname=app",
    "postgresql://bob:s3%63ret@db.example/app",  # percent-encoded
]


@pytest.mark.parametrize("url", URLS)
def test_describe_url_masks_every_secret(url: str) -> None:
    text = describe_url(url)
    assert "s3cret" not in text and "s3%63ret" not in text and "k3y" not in text
    assert "db.example" in text or "[::1" in text  # still says where it tried to connect


@pytest.mark.parametrize("url", URLS)
def test_a_driver_message_quoting_the_url_is_masked(url: str) -> None:
    message = f'invalid URI query parameter: "{url}"\nHINT: something else'
    text = redact_url_error(message, url)
    assert "s3cret" not in text and "s3%63ret" not in text and "k3y" not in text
    assert "\n" not in text


def test_secrets_are_masked_wherever_they_appear_in_a_text() -> None:
    url = "postgresql://bob:s3cret@db.example/app"
    text = redact("login as bob with s3cret failed", url)
    assert text == "login as bob with *** failed"


def test_any_connection_string_in_a_text_loses_its_password() -> None:
    text = redact(
        "could not reach postgresql://alice:hunter2@h/db nor host=h password=swordfish x=1"
    )
    assert "hunter2" not in text and "swordfish" not in text
    assert "postgresql://alice:***@h/db" in text and "x=1" in text


def test_settings_repr_shows_neither_url_nor_secret_key() -> None:
    settings = Settings(database_url="postgresql://bob:s3cret@h/db", secret_key="topsecret")
    assert "s3cret" not in repr(settings) and "topsecret" not in repr(settings)
