"""Telegram's own texts, in Korean and English, registered with the shared renderer (core/messages.py): a
text worded this platform's way is "telegram.<name>" and the conversation layer picks it for this platform's people."""

from __future__ import annotations

from core.messages import register

register({
    "telegram.chat_subtitle.on": {
        "ko": "이제 이 대화에서는 모든 짤에 보낸 문장이 자막으로 들어가요. 끄려면 /subtitle off",
        "en": "From now on, every meme in this chat carries your own sentence as its subtitle. To stop: /subtitle off",
    },
    "telegram.chat_subtitle.off": {
        "ko": "이 대화의 짤에는 짤 원래 자막이 들어가요. 내 문장으로 자막을 넣으려면 /subtitle on",
        "en": "Memes in this chat carry their own subtitles. For your own sentence as the subtitle: /subtitle on",
    },
    # telegram (adapters/telegram)
    "telegram.help": {
        "ko": "무한짤봇: 문장을 보내면 그 상황에 딱 맞는 짤에 내 얼굴을 합성해 드려요.\n"
        "1) 얼굴 등록: 얼굴이 잘 보이는 사진에 캡션 /setface 를 달아 보내요 (목록: /faces, 지우기: /deleteface).\n"
        "2) 개인 채팅은 아무 문장이나, 그룹은 /meme 문장 또는 @{bot} 멘션, 어느 채팅에서든 @{bot} 문장.\n"
        "3) 사진에 답장으로 /swap (또는 사진 캡션 /swap): 그 사진에 내 얼굴을 넣어요 (/swap all, /swap 2 도 돼요).\n"
        "4) 그룹에서 /shareface on: 친구들이 단체 짤에 내 얼굴을 쓸 수 있어요 (/shareface off 로 그만).\n"
        "   /meme 문장 @친구 (또는 친구 메시지에 답장으로 /meme 문장): 허락한 친구들과 함께 나오는 단체 짤.\n"
        "5) /subtitle on: 이 채팅의 모든 짤에 내 문장을 자막으로 넣어요 (/subtitle off 로 그만, 한 번만이면 문장 끝에 --자막).",
        "en": "FFfusion: send a sentence and get the meme that fits it, with your face swapped in.\n"
        "1) Register your face: send a clear photo of yourself with the caption /setface (list: /faces, forget: /deleteface).\n"
        "2) In a private chat just type; in groups use /meme sentence or mention @{bot}; anywhere: @{bot} sentence.\n"
        "3) /swap as a reply to a photo (or as its caption): your face onto that photo (/swap all, /swap 2 too).\n"
        "4) In a group, /shareface on lets friends put your face in group memes (/shareface off stops it).\n"
        "   /meme sentence @friend (or /meme as a reply to a friend): a group meme with the friends who allowed it.\n"
        "5) /subtitle on: your own sentence as the subtitle of every meme in this chat (/subtitle off stops it; "
        "once: end the sentence with --자막).",
    },
    "telegram.setface_send_photo": {
        "ko": "이제 얼굴이 잘 보이는 사진을 보내 주세요. 그 사진으로 얼굴을 등록할게요.",
        "en": "Now send a photo where your face is clearly visible, and I'll register it.",
    },
    "telegram.face_saved": {
        "ko": "이 얼굴로 짤을 만들게요 (얼굴 이름: {name}).",
        "en": "I'll use this face for your memes (face name: {name}).",
    },
    "telegram.download_failed": {
        "ko": "사진을 내려받지 못했어요. 잠시 뒤 /setface 로 다시 보내 주세요.",
        "en": "I couldn't download the photo. Please send it again with /setface in a moment.",
    },
    "telegram.photo_hint": {
        "ko": "얼굴을 등록하려면 사진에 캡션 /setface 를 달아 보내 주세요. 짤은 문장을 보내면 만들어 드려요.",
        "en": "To register your face, send the photo with the caption /setface. For a meme, send a sentence.",
    },
    "telegram.unsupported": {
        "ko": "스티커, 음성, 동영상은 읽지 못해요. 상황을 글로 적어 보내 주세요.",
        "en": "I can't read stickers, voice messages or videos. Describe the situation in text.",
    },
    "telegram.edited": {
        "ko": "수정한 메시지로는 짤을 만들지 않아요. 새 메시지로 다시 보내 주세요.",
        "en": "I don't make memes from edited messages. Send it again as a new message.",
    },
    "telegram.not_yours": {
        "ko": "이 버튼은 요청한 사람만 누를 수 있어요.",
        "en": "Only the person who asked can use this button.",
    },
    "telegram.no_longer": {
        "ko": "오래된 짤이라 바꿀 수 없어요. 문장을 다시 보내 주세요.",
        "en": "That meme is too old to change. Send the sentence again.",
    },
    "telegram.busy": {"ko": "다른 짤을 고르는 중이에요. 잠시만요!", "en": "Already picking another one, one moment!"},
    "telegram.inline_start": {"ko": "봇과 대화해서 내 얼굴 등록하기", "en": "Open the bot to register your face"},
    "telegram.cmd_meme": {"ko": "문장에 맞는 짤 만들기", "en": "Make a meme from a sentence"},
    "telegram.cmd_setface": {"ko": "사진으로 내 얼굴 등록", "en": "Register your face from a photo"},
    "telegram.cmd_deleteface": {"ko": "내 얼굴과 기록 지우기", "en": "Forget my face and data"},
    "telegram.cmd_help": {"ko": "사용법", "en": "How to use the bot"},
    "telegram.cmd_faces": {"ko": "등록한 내 얼굴 목록", "en": "List your saved faces"},
    "telegram.cmd_swap": {"ko": "사진에 내 얼굴 넣기 (사진에 답장)", "en": "Your face onto a photo (reply to it)"},
    "telegram.cmd_shareface": {"ko": "그룹 친구들에게 얼굴 공유 on/off", "en": "Share your face with this group: on/off"},
    "telegram.cmd_subtitle": {"ko": "이 대화의 짤에 내 문장으로 자막 on/off", "en": "Your own sentence as every meme's subtitle here: on/off"},
    "telegram.bad_token": {
        "ko": "텔레그램이 봇 토큰을 거부했어요. FFFUSION_TELEGRAM_TOKEN 을 확인해 주세요.",
        "en": "Telegram rejected the bot token: check FFFUSION_TELEGRAM_TOKEN.",
    },
    "telegram.unreachable": {
        "ko": "텔레그램 Bot API 서버에 연결할 수 없어요 ({url}): {reason}",
        "en": "Cannot reach the Telegram Bot API at {url}: {reason}",
    },
    "telegram.webhook_failed": {
        "ko": "텔레그램 웹훅을 설정할 수 없어요 ({url}): {reason}",
        "en": "Telegram refused the webhook {url}: {reason}",
    },
})
