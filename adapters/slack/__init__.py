"""Slack: customer channels in (Events API through Bolt), reply nudges out (Block Kit DMs).

``events`` translates payloads to domain messages (pure), ``blocks`` renders Block Kit (pure),
``listeners`` are the Bolt handlers, ``messenger`` delivers nudges, ``service`` puts them
together for the wiring (``bot/wiring/slack.py``). Nothing here imports storage or services:
the adapter is handed a ``Core``.
"""
