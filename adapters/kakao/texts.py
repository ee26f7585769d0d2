"""KakaoTalk's own texts, in Korean and English, registered with the shared renderer (core/messages.py): a
text worded this platform's way is "kakao.<name>" and the conversation layer picks it for this platform's people."""

from __future__ import annotations

from core.messages import register

register({
    # KakaoTalk skill
    "kakao.help": {
        "ko": "문장을 보내면 딱 맞는 짤에 내 얼굴을 합성해 드려요. 예: 시험 완전 망했어\n"
        "/setface 에서 내 얼굴 사진을 보내면 얼굴이 등록돼요 (지우기: /deleteface).\n"
        "'사진에 내 얼굴'에서 아무 사진이나 보내면 그 사진에 내 얼굴을 넣어 드려요.\n"
        "'자막 켜기'를 보내면 모든 짤에 내 문장이 자막으로 들어가요 ('자막 끄기'로 그만).\n"
        "'다른 짤'을 누르면 다음 후보를 보여 드려요.",
        "en": "Send a sentence and I answer with the best-fitting meme wearing your face.\n"
        "Send a photo of yourself with /setface to register your face (forget it: /deleteface).\n"
        "Send any picture with '사진에 내 얼굴' and I put your face onto it.\n"
        "Send 'subtitle on' to have your own sentence as every meme's subtitle ('subtitle off' stops it).\n"
        "Tap 'Another meme' for the next candidate.",
    },
    "kakao.help_label": {"ko": "도움말", "en": "Help"},
    "kakao.swap_needs_photo": {
        "ko": "'사진에 내 얼굴'에서 내 얼굴을 넣을 사진을 골라 보내 주세요.",
        "en": "Pick the picture to put your face onto in '사진에 내 얼굴'.",
    },
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
    "kakao.delete.done": {
        "ko": "얼굴과 기록을 모두 지웠어요. 다시 쓰려면 /setface 로 얼굴 사진을 보내 주세요.",
        "en": "Your faces and data are deleted. Send a photo with /setface to start again.",
    },
    "kakao.public_url_missing": {
        "ko": "카카오가 이미지를 가져갈 공개 주소 FFFUSION_PUBLIC_URL (https://...) 을 설정해 주세요.",
        "en": "Set FFFUSION_PUBLIC_URL (https://...), the public address Kakao fetches the images from.",
    },
    "kakao.chat_subtitle.on": {
        "ko": "이제 모든 짤에 보낸 문장이 자막으로 들어가요. 끄려면 '자막 끄기'",
        "en": "From now on, every meme carries your own sentence as its subtitle. To stop, send 'subtitle off'.",
    },
    "kakao.chat_subtitle.off": {
        "ko": "짤에는 짤 원래 자막이 들어가요. 내 문장으로 자막을 넣으려면 '자막 켜기'",
        "en": "Memes carry their own subtitles. For your own sentence as the subtitle, send 'subtitle on'.",
    },
    "kakao.chat_subtitle_label": {"ko": "내 문장으로 자막", "en": "Own subtitle"},
})
