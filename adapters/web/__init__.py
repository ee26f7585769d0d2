"""The web adapter; importing it registers its texts (adapters/web/texts.py)."""

from adapters.web import texts as texts
