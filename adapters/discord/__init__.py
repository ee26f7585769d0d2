"""The discord adapter; importing it registers its texts (adapters/discord/texts.py)."""

from adapters.discord import texts as texts
