"""WhatsApp Cloud API: Meta's signed webhook in, replies out through the Graph API.

A conversation is one customer's chat with one business number: ``channel`` is the
``phone_number_id``, ``thread`` the customer's ``wa_id``. Team members are nudged on Slack or
Telegram as usual; only their replies go out here.
"""

PLATFORM = "whatsapp"
