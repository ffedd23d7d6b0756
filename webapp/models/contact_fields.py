"""The channels Bellhop knows, and the contact field each needs."""

# The recipient field each channel needs; channels not listed need none.
CONTACT_FOR_CHANNEL = {
    "webhook": "webhook_url",
    "email": "email",
    "sms": "phone",
    "telegram": "telegram_chat_id",
}
KNOWN_CHANNELS = ("log", *CONTACT_FOR_CHANNEL)
