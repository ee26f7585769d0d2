"""Every text a user reads, in Korean and English. Nothing else in the project builds user text."""

from __future__ import annotations

from typing import Any

DEFAULT_LANG = "ko"

TEXTS: dict[str, dict[str, str]] = {
    # text input
    "text.empty": {
        "ko": "문장을 입력해 주세요. 예: 시험 완전 망했어 ㅠㅠ",
        "en": "Please type a sentence, e.g. 'I totally failed the exam'.",
    },
    "text.too_long": {
        "ko": "문장이 너무 길어요 ({length}자). {limit}자 이내로 줄여 주세요.",
        "en": "That sentence is too long ({length} characters). Keep it under {limit}.",
    },
    "text.no_words": {
        "ko": "이모지나 기호만으로는 짤을 찾을 수 없어요. 상황을 글로 적어 주세요.",
        "en": "I can't find a meme from emoji or symbols alone. Describe the situation in words.",
    },
    # catalog
    "catalog.missing": {
        "ko": "짤 카탈로그를 찾을 수 없어요: {path}",
        "en": "Meme catalog not found: {path}",
    },
    "catalog.invalid": {
        "ko": "카탈로그에 잘못된 항목이 {count}개 있어요:\n{details}",
        "en": "The catalog has {count} bad entr{plural}:\n{details}",
    },
    "catalog.empty": {
        "ko": "카탈로그에 짤이 하나도 없어요: {path}",
        "en": "The catalog has no memes: {path}",
    },
    "catalog.image_exists": {
        "ko": "이미 같은 이름의 짤이 있어요: {name}",
        "en": "A meme with that id already exists: {name}",
    },
    # models
    "model.unavailable": {
        "ko": "문장 모델 '{name}'을(를) 불러올 수 없어요: {reason}",
        "en": "Cannot load the sentence model '{name}': {reason}",
    },
    "model.needs_st": {
        "ko": "'{name}' 모델을 쓰려면 sentence-transformers가 필요해요: pip install 'fffusion[st]'",
        "en": "The model '{name}' needs sentence-transformers: pip install 'fffusion[st]'",
    },
    # configuration
    "config.bad_value": {
        "ko": "설정값이 올바르지 않아요: {name}={value}",
        "en": "Invalid setting: {name}={value}",
    },
    "config.bad_file": {
        "ko": "설정 파일을 읽을 수 없어요 ({path}): {reason}",
        "en": "Cannot parse the config file {path}: {reason}",
    },
    "config.unknown": {
        "ko": "알 수 없는 설정 이름: {names}",
        "en": "Unknown setting(s): {names}",
    },
    # KakaoTalk skill
    "kakao.help": {
        "ko": "문장을 보내면 딱 맞는 짤에 내 얼굴을 합성해 드려요. 예: 시험 완전 망했어\n"
        "/setface 에서 내 얼굴 사진을 보내면 얼굴이 등록돼요.\n"
        "'다른 짤'을 누르면 다음 후보를 보여 드려요.",
        "en": "Send a sentence and I answer with the best-fitting meme wearing your face.\n"
        "Send a photo of yourself with /setface to register your face.\n"
        "Tap 'Another meme' for the next candidate.",
    },
    "kakao.help_label": {"ko": "도움말", "en": "Help"},
    "kakao.next_label": {"ko": "다른 짤", "en": "Another meme"},
    "kakao.working": {
        "ko": "짤 만드는 중이에요… 잠시만 기다려 주세요!",
        "en": "Making your meme… one moment!",
    },
    "kakao.slow": {
        "ko": "지금 요청이 많아 시간 안에 못 만들었어요. 잠시 뒤에 다시 보내 주세요.",
        "en": "I'm busy and couldn't finish in time. Please send it again in a moment.",
    },
    "kakao.no_previous": {
        "ko": "먼저 문장을 보내 주세요. 그 문장에 맞는 다른 짤을 찾아 드릴게요.",
        "en": "Send a sentence first; then I can find another meme for it.",
    },
    "kakao.setface_needs_photo": {
        "ko": "/setface 에서 사진 버튼으로 내 얼굴 사진을 보내 주세요.",
        "en": "Send a photo of your face with the photo button in /setface.",
    },
    "kakao.secureimage_bad": {
        "ko": "보내 주신 사진 정보를 읽을 수 없어요. /setface 에서 사진을 다시 보내 주세요.",
        "en": "I couldn't read the photo I was given. Please send it again with /setface.",
    },
    "kakao.url_not_allowed": {
        "ko": "그 주소의 사진은 받을 수 없어요. 카카오톡에서 /setface 로 사진을 직접 보내 주세요.",
        "en": "I can't fetch photos from that address. Send the photo itself with /setface in KakaoTalk.",
    },
    "kakao.download_failed": {
        "ko": "사진을 내려받지 못했어요. 잠시 뒤 /setface 로 다시 보내 주세요.",
        "en": "I couldn't download the photo. Please send it again with /setface in a moment.",
    },
    "kakao.face_saved": {
        "ko": "얼굴을 등록했어요 ({name}). 이제 아무 문장이나 보내 보세요!",
        "en": "Face saved ({name}). Now send me any sentence!",
    },
    "kakao.secret_short": {
        "ko": "FFFUSION_KAKAO_SECRET 은 16자 이상이어야 하고 영문, 숫자, - _ . ~ 만 쓸 수 있어요.",
        "en": "FFFUSION_KAKAO_SECRET must be at least 16 characters of letters, digits, - _ . ~",
    },
    "kakao.public_url_missing": {
        "ko": "카카오가 이미지를 가져갈 공개 주소 FFFUSION_PUBLIC_URL (https://...) 을 설정해 주세요.",
        "en": "Set FFFUSION_PUBLIC_URL (https://...), the public address Kakao fetches the images from.",
    },
    "web.cannot_listen": {
        "ko": "웹 서버를 {host}:{port} 에서 열 수 없어요: {reason} (FFFUSION_HTTP_HOST / FFFUSION_HTTP_PORT)",
        "en": "Cannot listen on {host}:{port}: {reason} (FFFUSION_HTTP_HOST / FFFUSION_HTTP_PORT)",
    },
    # generic
    "file.unreadable": {
        "ko": "파일을 읽을 수 없어요: {path}",
        "en": "Cannot read the file: {path}",
    },
    "internal": {
        "ko": "잠깐 문제가 생겼어요. 조금 뒤에 다시 해 주세요.",
        "en": "Something went wrong on our side. Please try again in a moment.",
    },
}


def pick_lang(code: str | None) -> str:
    """Korean first; English when the client says so (any 'en*' locale)."""
    return "en" if code and code.lower().replace("_", "-").startswith("en") else DEFAULT_LANG


def render(key: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    texts = TEXTS.get(key) or TEXTS["internal"]
    template = texts.get(lang) or texts[DEFAULT_LANG]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
