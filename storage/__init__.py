"""The SQL store. A module's name says what it does to the database:

- ``<subject>_repo``: writes (and the reads that go with them) of one table or one feature's
  tables: ``outbox_repo``, ``messages_repo``, ``cursors_repo``, ``ingest_repo``.
- ``<subject>_queries``: read-only queries for one reader (a command, a page, a report):
  ``conversation_queries``, ``waiting_page_queries``, ``stats_queries``.
- no suffix: the machinery every module shares (``db``, ``models``, ``migrate``,
  ``schema_version``, ``rawsql``, ``sqlite_inline``, ``records``) and ``fastread``, the
  bare-driver read path of the query commands.

``tests/test_storage_naming.py`` holds new modules to it.
"""
