from tests.faults.pgserver import pg_server

__all__ = ["pg_server"]
