from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.email.servers import Dovecot, dovecot


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    with dovecot() as server:
        yield server


@pytest.fixture
def imap_server(dovecot_server: Dovecot) -> Dovecot:
    """The session's Dovecot with empty folders."""
    dovecot_server.wipe()
    return dovecot_server
