"""Where the parts are put together. The rule:

* ``bot.app`` is the composition root: ``Runtime`` (config, database, rules, routing,
  rotations, and on first use the inbox and nudge engine that ``compose_nudging`` builds in
  dependency order) and nothing platform-specific. Every command builds one; it imports no
  wiring, web or CLI (import-linter's layers: ``bot.cli`` > ``bot.wiring`` > ``bot.web`` >
  ``bot.app``).
* ``bot.wiring`` connects platforms to a ``Runtime``: one module per platform that needs
  code to come alive (``slack``, ``telegram``, ``whatsapp``; ``polled`` for every platform
  the registry gives a ``poller``), each named by its registry entry's ``wiring``, and the
  process-level assembly shared by them — ``component`` (what a platform contributes),
  ``core`` (the ``Core`` adapters are handed), ``process`` (one ``nudgebot run``: components,
  web app, catch-up, their start and stop) and ``preflight`` (credentials checked before
  serving).

Nothing else builds platform parts: a new platform adds a module here (or a ``poller``) and
its registry line.
"""
