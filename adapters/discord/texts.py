"""Discord's own texts, in Korean and English, registered with the shared renderer (core/messages.py): a
text worded this platform's way is "discord.<name>" and the conversation layer picks it for this platform's people."""

from __future__ import annotations

from core.messages import register

register({
    "discord.chat_subtitle.on": {
        "ko": "이제 이 서버에서는 모든 짤에 보낸 문장이 자막으로 들어가요. 끄려면 /자막 off",
        "en": "From now on, every meme in this server carries your own sentence as its subtitle. To stop: "
              "/subtitle off",
    },
    "discord.chat_subtitle.off": {
        "ko": "이 서버의 짤에는 짤 원래 자막이 들어가요. 내 문장으로 자막을 넣으려면 /자막 on",
        "en": "Memes in this server carry their own subtitles. For your own sentence as the subtitle: /subtitle on",
    },
    # Discord: command and option names ("en" is the base name, "ko" its localization) and descriptions
    # ("ko" is the base text, "en" the en-US/en-GB localization); names: lowercase, no spaces, <= 32
    "discord.cmd.setface": {"ko": "얼굴등록", "en": "setface"},
    "discord.cmd.setface.desc": {
        "ko": "짤에 넣을 내 얼굴 사진을 등록해요",
        "en": "Register a photo of your face for your memes",
    },
    "discord.cmd.meme": {"ko": "짤", "en": "meme"},
    "discord.cmd.meme.desc": {
        "ko": "문장에 딱 맞는 짤을 내 얼굴로 만들어요",
        "en": "Make the meme that fits your sentence, with your face",
    },
    "discord.cmd.deleteface": {"ko": "얼굴삭제", "en": "deleteface"},
    "discord.cmd.deleteface.desc": {
        "ko": "등록한 얼굴과 내 기록을 모두 지워요",
        "en": "Forget your faces and everything the bot keeps about you",
    },
    "discord.cmd.help": {"ko": "도움말", "en": "help"},
    "discord.cmd.help.desc": {"ko": "무한짤봇 사용법", "en": "How to use the meme bot"},
    "discord.opt.image": {"ko": "사진", "en": "image"},
    "discord.opt.image.desc": {"ko": "얼굴이 정면으로 크게 나온 사진", "en": "A photo showing your face clearly"},
    "discord.opt.name": {"ko": "이름", "en": "name"},
    "discord.opt.name.desc": {
        "ko": "얼굴을 여러 개 쓸 때 붙일 이름 (예: 회사용)",
        "en": "A name for this face if you keep several (e.g. work)",
    },
    "discord.cmd.swap": {"ko": "얼굴바꾸기", "en": "swap"},
    "discord.cmd.swap.desc": {"ko": "아무 사진에 내 얼굴을 넣어요", "en": "Put your face onto any picture"},
    "discord.cmd.faces": {"ko": "얼굴목록", "en": "faces"},
    "discord.cmd.faces.desc": {"ko": "등록한 내 얼굴 이름과 기본 얼굴", "en": "Your saved faces and the default one"},
    "discord.cmd.shareface": {"ko": "얼굴공유", "en": "shareface"},
    "discord.cmd.shareface.desc": {
        "ko": "이 서버 친구들이 단체 짤에 내 얼굴을 쓸 수 있게 해요 (on) 또는 그만해요 (off)",
        "en": "Let friends in this server put your face in group memes (on), or stop it (off)",
    },
    "discord.cmd.subtitle": {"ko": "자막", "en": "subtitle"},
    "discord.cmd.subtitle.desc": {
        "ko": "이 서버의 모든 짤에 내 문장을 자막으로 (on) 또는 짤 원래 자막으로 (off)",
        "en": "Every meme in this server with your own sentence as its subtitle (on), or its own (off)",
    },
    "discord.ctx.swap": {"ko": "내 얼굴로 바꾸기", "en": "Swap my face"},
    "discord.opt.picture.desc": {"ko": "얼굴을 바꿀 사진", "en": "The picture to put your face onto"},
    "discord.opt.target": {"ko": "대상", "en": "target"},
    "discord.opt.target.desc": {
        "ko": "바꿀 얼굴: largest (가장 큰 얼굴, 기본), all (모두) 또는 번호 (0이 가장 큰 얼굴)",
        "en": "Faces to swap: largest (default), all, or a number (0 = the largest)",
    },
    "discord.opt.mode": {"ko": "설정", "en": "mode"},
    "discord.opt.mode.desc": {"ko": "on: 허락, off: 그만", "en": "on: allow, off: stop"},
    "discord.opt.text": {"ko": "문장", "en": "text"},
    "discord.opt.text.desc": {"ko": "지금 하고 싶은 말 (예: 시험 망했어)", "en": "What you want to say"},
    "discord.opt.face": {"ko": "얼굴", "en": "face"},
    "discord.opt.face.desc": {
        "ko": "쓸 얼굴 이름 (비우면 기본 얼굴)",
        "en": "Which of your saved faces to use (the default if empty)",
    },
    # Discord: answers
    "discord.face.not_registered": {
        "ko": "아직 얼굴이 등록되지 않아서 원본 짤을 보냈어요. /얼굴등록 으로 얼굴 사진을 보내면 내 얼굴로 바꿔 드려요.",
        "en": "No face registered yet, so here is the original. Send a photo of yourself with /setface to star in it.",
    },
    "discord.faces.none": {
        "ko": "아직 등록한 얼굴이 없어요. /얼굴등록 으로 얼굴 사진을 보내 주세요.",
        "en": "You have no faces yet. Send a photo of yourself with /setface.",
    },
    "discord.face.record_invalid": {
        "ko": "저장된 얼굴 정보를 읽을 수 없어요. /얼굴등록 으로 얼굴을 다시 등록해 주세요.",
        "en": "Your saved face can't be read. Please register your face again with /setface.",
    },
    "discord.picture.needs_face": {
        "ko": "먼저 /얼굴등록 으로 내 얼굴 사진을 등록해 주세요. 그러면 어떤 사진에든 내 얼굴을 넣어 드려요.",
        "en": "Register your face with /setface first; then I can put it onto any picture.",
    },
    "discord.share.needs_face": {
        "ko": "공유할 얼굴이 없어요. 먼저 /얼굴등록 으로 얼굴을 등록해 주세요.",
        "en": "You have no face to share yet. Register one with /setface first.",
    },
    "discord.share.usage": {
        "ko": "/얼굴공유 on 으로 켜고 /얼굴공유 off 로 꺼요 (이 서버에서만).",
        "en": "Use /shareface on or /shareface off (for this server only).",
    },
    "discord.share.on": {
        "ko": "이 서버의 친구들이 단체 짤에 내 얼굴을 쓸 수 있어요. 그만하려면 /얼굴공유 off",
        "en": "Friends in this server may now put your face in group memes. To stop: /shareface off",
    },
    "discord.group.not_shared": {
        "ko": "{names}: 이 서버에서 얼굴 공유를 허락하지 않아서 넣지 않았어요 (/얼굴공유 on 으로 허락할 수 있어요).",
        "en": "{names}: not in it, they have not allowed their face in this server (they can with /shareface on).",
    },
    "discord.help": {
        "ko": "/짤 문장: 문장에 딱 맞는 짤에 내 얼굴을 합성해요. 예: /짤 시험 완전 망했어\n"
        "/짤 문장 @친구: 얼굴 공유를 허락한 친구들과 함께 나오는 단체 짤을 만들어요.\n"
        "/얼굴등록 사진: 내 얼굴을 등록해요 (이름을 붙여 여러 개도 돼요). /얼굴목록: 등록한 얼굴 보기.\n"
        "사진이 있는 메시지 → 앱 → '내 얼굴로 바꾸기', 또는 /얼굴바꾸기 사진: 아무 사진에 내 얼굴을 넣어요.\n"
        "/얼굴공유 on|off: 이 서버 친구들이 단체 짤에 내 얼굴을 쓰게 하거나 그만하게 해요.\n"
        "/자막 on|off: 이 서버의 모든 짤에 내 문장을 자막으로 넣어요 (한 번만이면 문장 끝에 --자막).\n"
        "/얼굴삭제: 등록한 얼굴과 기록을 모두 지워요.\n"
        "'다른 짤'을 누르면 같은 문장의 다음 후보로 바꿔 드려요.",
        "en": "/meme text: the meme that fits your sentence, with your face. E.g. /meme I failed the exam\n"
        "/meme text @friend: a group meme with the friends who allowed it.\n"
        "/setface image: register your face (add a name to keep several). /faces: your saved faces.\n"
        "A message with a picture → Apps → 'Swap my face', or /swap image: your face onto any picture.\n"
        "/shareface on|off: let friends in this server put your face in group memes, or stop it.\n"
        "/subtitle on|off: your own sentence as the subtitle of every meme in this server (once: end it with --자막).\n"
        "/deleteface: forget your faces and everything about you.\n"
        "Press 'Another meme' to swap in the next candidate for the same sentence.",
    },
    "discord.face_saved": {
        "ko": "이 얼굴로 짤을 만들게요 ({name}). 이제 /짤 을 써 보세요!",
        "en": "I'll use this face ({name}). Now try /meme!",
    },
    "discord.not_yours": {
        "ko": "이 버튼은 짤을 만든 사람만 누를 수 있어요. /짤 로 내 짤을 만들어 보세요.",
        "en": "Only the person who made this meme can use this button. Try /meme yourself.",
    },
    "discord.delete.done": {
        "ko": "모두 지웠어요. 다시 쓰려면 /얼굴등록 으로 얼굴을 등록해 주세요.",
        "en": "Everything is deleted. Register a face with /setface to start again.",
    },
    "discord.cannot_post": {
        "ko": "이 채널에 짤을 올릴 권한이 없어요. 서버 관리자에게 봇의 '파일 첨부' 권한을 요청해 주세요.",
        "en": "I'm not allowed to post the meme in this channel. Ask a server admin to let the bot attach files.",
    },
    "discord.download_failed": {
        "ko": "사진을 내려받지 못했어요. 잠시 뒤에 /얼굴등록 으로 다시 보내 주세요.",
        "en": "I couldn't download the photo. Please try /setface again in a moment.",
    },
    "discord.bad_token": {
        "ko": "디스코드 봇 토큰이 올바르지 않아요 (FFFUSION_DISCORD_TOKEN).",
        "en": "The Discord bot token was refused (FFFUSION_DISCORD_TOKEN).",
    },
    "discord.unreachable": {
        "ko": "디스코드에 연결하지 못했어요: {reason}",
        "en": "Could not connect to Discord: {reason}",
    },
})
