"""Telegram adapter (python-telegram-bot v22): `start_telegram(conversation, settings)` -> a running `TelegramBot`."""

from adapters.telegram import texts as texts
from adapters.telegram.bot import TelegramBot, build_application, start_telegram

__all__ = ["TelegramBot", "build_application", "start_telegram"]
