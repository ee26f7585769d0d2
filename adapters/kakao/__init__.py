"""The kakao adapter; importing it registers its texts (adapters/kakao/texts.py)."""

from adapters.kakao import texts as texts
