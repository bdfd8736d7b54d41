"""Telegram: customer groups, forum topics and private chats with the bot in; nudges with
buttons and reply-through out; team commands. Built on python-telegram-bot's ``Application``
without its updater — updates arrive on our own route (``webhook.py``) or poller
(``polling.py``) and go through ``TelegramService.receive``.

Modules: ``updates`` (Update → what it means, pure), the ``ThreadHint`` the inbox threads by,
``render`` (HTML), ``actions`` (buttons), ``messenger`` (``Messenger`` port), ``handlers``,
``ratelimit``, ``service`` (lifecycle), ``webhook``, ``polling``.
"""
