"""The texts a user reads, in Korean and English: core's own here, each platform's own in its adapter
(adapters/<platform>/texts.py, registered here). Nothing else in the project builds user text."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_LANG = "ko"
#: an unknown key raises instead of reading "internal" (tests/conftest.py sets it: a missing text is a defect)
STRICT = False

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
    # what a conversation offers on every platform (core/service/conversation.py); a platform words a text its
    # own way under "<platform>.<name>", e.g. "kakao.delete.done"
    "meme.next_label": {"ko": "다른 짤", "en": "Another meme"},
    "learning.reset": {"ko": "학습한 선택 {count}개를 모두 지웠어요.", "en": "Forgot all {count} learned votes."},
    # a choice of memes (core/recommend/confidence.py decides when)
    "meme.choices_label": {"ko": "골라보기", "en": "Let me choose"},
    "meme.pick_label": {"ko": "{n}번", "en": "No. {n}"},
    "meme.choice_line": {"ko": "{n}. {caption}", "en": "{n}. {caption}"},
    "meme.choose": {"ko": "어떤 짤이 맞을까요? 골라 주시면 얼굴을 넣어 드릴게요.",
                    "en": "Which one fits? Pick one and I'll put your face in it."},
    "meme.nothing_fits": {
        "ko": "딱 맞는 짤은 못 찾았어요. 그나마 가까운 짤들이에요. 마음에 드는 게 있으면 골라 주세요.",
        "en": "I couldn't find a meme that really fits. These are the closest; pick one if you like.",
    },
    "meme.nothing_fits_none": {
        "ko": "이 문장에 어울리는 짤을 찾지 못했어요. 다르게 말해 보시겠어요?",
        "en": "I couldn't find a meme for that. Could you say it another way?",
    },
    "delete.confirm": {
        "ko": "등록한 얼굴과 내 기록을 모두 지울까요? 되돌릴 수 없어요.",
        "en": "Delete your faces and everything the bot keeps about you? This cannot be undone.",
    },
    "delete.yes": {"ko": "모두 지우기", "en": "Delete everything"},
    "delete.no": {"ko": "취소", "en": "Cancel"},
    "person.deleted": {
        "ko": "얼굴과 기록을 지워서 이 요청은 취소했어요.",
        "en": "Your data was deleted, so this request was cancelled.",
    },
    "delete.done": {"ko": "얼굴과 기록을 모두 지웠어요.", "en": "Your faces and data are deleted."},
    "delete.nothing": {"ko": "지울 정보가 없어요.", "en": "There was nothing to delete."},
    "delete.cancelled": {"ko": "취소했어요. 아무것도 지우지 않았어요.", "en": "Cancelled; nothing was deleted."},
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
    "catalog.bad_text": {
        "ko": "캡션, 예문, 태그에는 제어 문자를 넣을 수 없어요: {text}",
        "en": "Captions, examples and tags cannot hold control characters: {text}",
    },
    "catalog.bad_image": {
        "ko": "손상되었거나 읽을 수 없는 그림이에요: {path}",
        "en": "The picture is damaged or unreadable: {path}",
    },
    # fffusion catalog check
    "catalog.check.confusable": {
        "ko": "헷갈리는 짤 {count}쌍: 추천기가 잘 구별하지 못해요. 한쪽의 캡션이나 예문을 더 다르게 써 주세요.",
        "en": "{count} confusable pair(s): the recommender can hardly tell them apart. Rewrite one caption or its examples.",
    },
    "catalog.check.pair": {
        "ko": "  {first} ↔ {second} (유사도 {similarity})\n    {first}: {first_caption}\n    {second}: {second_caption}",
        "en": "  {first} <-> {second} (similarity {similarity})\n    {first}: {first_caption}\n    {second}: {second_caption}",
    },
    "catalog.check.unreached": {
        "ko": "예문으로 찾아지지 않는 짤 {count}개: 어떤 예문도 이 짤을 1위로 찾지 못해요. 캡션을 상황이 드러나게 다시 써 주세요.",
        "en": "{count} meme(s) no example reaches: none of their examples ranks them first. Rewrite the caption to say the situation.",
    },
    "catalog.check.unreached_meme": {
        "ko": "  {meme}: {caption}\n    예문 \"{example}\" → 1위 {other}: {other_caption}",
        "en": "  {meme}: {caption}\n    example \"{example}\" -> first {other}: {other_caption}",
    },
    "catalog.check.no_examples": {
        "ko": "예문이 없어 확인하지 못한 짤 {count}개: {ids}",
        "en": "{count} meme(s) without examples, not checked for reach: {ids}",
    },
    "catalog.check.summary": {
        "ko": "짤 {memes}개 확인: 헷갈리는 쌍 {pairs}개, 예문으로 찾아지지 않는 짤 {unreached}개.",
        "en": "Checked {memes} memes: {pairs} confusable pair(s), {unreached} meme(s) no example reaches.",
    },
    # models
    "model.unavailable": {
        "ko": "문장 모델 '{name}'을(를) 불러올 수 없어요: {reason}",
        "en": "Cannot load the sentence model '{name}': {reason}",
    },
    "situations.unreadable": {
        "ko": "상황 예문 파일 {path}을(를) 읽을 수 없어요: {reason}",
        "en": "Cannot read the situation bank {path}: {reason}",
    },
    "situations.bad_line": {
        "ko": "상황 예문 파일 {path}의 {line}번째 줄은 '상황<탭>문장' 형식이어야 해요.",
        "en": "{path}, line {line}: expected 'situation<TAB>sentence'.",
    },
    "model.needs_st": {
        "ko": "'{name}' 모델을 쓰려면 sentence-transformers가 필요해요: pip install 'fffusion[st]'",
        "en": "The model '{name}' needs sentence-transformers: pip install 'fffusion[st]'",
    },
    # configuration
    "config.bad_value": {
        "ko": "설정값이 올바르지 않아요: {name}={value} → 가능한 값: {expected}",
        "en": "Invalid setting {name}={value}: expected {expected}",
    },
    # what a setting accepts (bot/config.py RULES), as config.bad_value's {expected}
    "config.expect.whole": {"ko": "{lo}~{hi} 사이의 정수", "en": "a whole number from {lo} to {hi}"},
    "config.expect.number": {"ko": "{lo}~{hi} 사이의 수", "en": "a number from {lo} to {hi}"},
    "config.expect.bool": {"ko": "true 또는 false", "en": "true or false"},
    "config.expect.choice": {"ko": "{choices} 중 하나", "en": "one of {choices}"},
    "config.expect.text": {"ko": "비어 있지 않은 글자", "en": "some text"},
    "config.expect.path": {"ko": "파일이나 폴더 경로", "en": "a file or folder path"},
    "config.expect.host": {"ko": "호스트 이름 또는 IP 주소", "en": "a host name or IP address"},
    "config.expect.host_port": {
        "ko": "호스트 이름 또는 IP 주소, 포트는 붙여도 돼요 (예: cdn.example.com, 10.0.0.5:8443, [::1]:9000; 여러 개는 쉼표로 구분)",
        "en": "host names or IP addresses, with a port or not (e.g. cdn.example.com, 10.0.0.5:8443, [::1]:9000; "
              "several: comma-separated)",
    },
    "config.expect.network": {
        "ko": "IP 주소 또는 네트워크 (예: 10.0.0.1, 10.0.0.0/8; 여러 개는 쉼표로 구분)",
        "en": "IP addresses or networks (e.g. 10.0.0.1, 10.0.0.0/8; several: comma-separated)",
    },
    "config.expect.url": {"ko": "https:// 또는 http:// 로 시작하는 주소", "en": "an address starting with https:// or http://"},
    "config.expect.ws_url": {"ko": "wss:// 또는 ws:// 로 시작하는 주소", "en": "an address starting with wss:// or ws://"},
    "config.expect.https_url": {"ko": "https:// 로 시작하는 공개 주소", "en": "a public address starting with https://"},
    "config.expect.telegram_token": {
        "ko": "@BotFather가 준 토큰 (숫자:35자, 예: 123456789:AAH…)",
        "en": "the token @BotFather gave (digits:35 characters, e.g. 123456789:AAH…)",
    },
    "config.expect.discord_token": {
        "ko": "Developer Portal의 Bot 토큰 (점으로 이어진 세 부분, 앞에 'Bot ' 없이)",
        "en": "the Developer Portal's bot token (three parts joined by dots, without 'Bot ')",
    },
    "config.expect.url_secret": {
        "ko": "A-Z a-z 0-9 - _ . ~ 로 된 16자 이상",
        "en": "at least 16 characters of A-Z a-z 0-9 - _ . ~",
    },
    "config.expect.long_token": {"ko": "공백 없는 16자 이상", "en": "at least 16 characters without spaces"},
    "config.expect.webhook_secret": {
        "ko": "A-Z a-z 0-9 _ - 로 된 1~256자",
        "en": "1 to 256 characters of A-Z a-z 0-9 _ -",
    },
    "config.expect.chat_id": {
        "ko": "채팅 id (예: -1001234567890) 또는 @채널이름",
        "en": "a chat id (e.g. -1001234567890) or @channelname",
    },
    "config.expect.shards": {
        "ko": "처음-끝/전체 (예: 0-3/8: 8개 중 0~3번 샤드)",
        "en": "first-last/count (e.g. 0-3/8: shards 0 to 3 of 8)",
    },
    "config.expect.postgres_url": {
        "ko": "postgresql://사용자:비밀번호@호스트:5432/db",
        "en": "postgresql://user:password@host:5432/db",
    },
    "config.expect.redis_url": {"ko": "redis://호스트:6379/0", "en": "redis://host:6379/0"},
    # where `fffusion config` says a value came from
    "config.from.default": {"ko": "기본값", "en": "default"},
    "config.from.file": {"ko": "설정 파일", "en": "config file"},
    "config.from.env": {"ko": "환경 변수", "en": "environment"},
    "config.bad_file": {
        "ko": "설정 파일을 읽을 수 없어요 ({path}): {reason}",
        "en": "Cannot parse the config file {path}: {reason}",
    },
    "config.unknown": {
        "ko": "알 수 없는 설정 이름이에요: {names}. 모든 이름은 `fffusion config`로 볼 수 있어요.",
        "en": "Unknown setting name(s): {names}. `fffusion config` lists every name.",
    },
    # images
    "image.too_big_bytes": {
        "ko": "사진 파일이 너무 커요 ({size_mb}MB). {limit_mb}MB 이하로 줄여서 보내 주세요.",
        "en": "That image file is too big ({size_mb} MB). Send one under {limit_mb} MB.",
    },
    "image.too_many_pixels": {
        "ko": "사진 해상도가 너무 커요. {limit_mp}백만 화소 이하로 줄여서 보내 주세요.",
        "en": "That image has too many pixels. Resize it to under {limit_mp} megapixels and send it again.",
    },
    "image.not_image": {
        "ko": "사진 파일이 아니에요. JPEG, PNG, WebP, GIF 사진을 보내 주세요.",
        "en": "That is not an image file. Send a JPEG, PNG, WebP or GIF picture.",
    },
    "image.truncated": {
        "ko": "사진 파일이 손상됐거나 끝까지 받지 못했어요. 사진을 다시 보내 주세요.",
        "en": "That image is damaged or incomplete. Please send the picture again.",
    },
    "clip.too_many_frames": {
        "ko": "움짤이 너무 길어요 ({frames}프레임). {limit}프레임 이하로 줄여서 보내 주세요.",
        "en": "That animation is too long ({frames} frames). Send one with at most {limit} frames.",
    },
    "clip.too_long": {
        "ko": "움짤이 너무 길어요 ({seconds}초). {limit}초 이하로 잘라서 보내 주세요.",
        "en": "That animation is too long ({seconds} s). Send one of at most {limit} s.",
    },
    "clip.too_many_pixels": {
        "ko": "움짤 해상도가 너무 커요 ({width}x{height}). 한 프레임이 {limit_mp}백만 화소 이하인 걸로 보내 주세요.",
        "en": "That animation's frames are too large ({width}x{height}). Send one under {limit_mp} megapixels a frame.",
    },
    "clip.still_meme": {
        "ko": "'{path}'는 움짤 형식인데 이 짤은 사진이에요. .jpg, .png, .webp로 저장해 주세요.",
        "en": "'{path}' is an animation's format, but this meme is a still. Write .jpg, .png or .webp.",
    },
    "clip.from_still": {
        "ko": "고른 짤이 사진이라서 천천히 다가가는 움짤로 만들었어요.",
        "en": "The best meme is a still, so it was made into an animation with a slow push-in.",
    },
    "clip.key_frame": {
        "ko": "움짤이라서 대표 장면 한 장만 사진으로 저장했어요. 움직이는 짤은 .mp4, .gif, .webp로 저장해 주세요.",
        "en": "This meme is animated: its key frame was written as a still. Write .mp4, .gif or .webp for the animation.",
    },
    "image.output_format": {
        "ko": "'{path}' 확장자로는 저장할 수 없어요. 파일 이름을 {supported} 중 하나로 끝나게 지어 주세요.",
        "en": "Cannot write '{path}': end the file name with one of {supported}.",
    },
    # faces
    "face.none": {
        "ko": "사진에서 얼굴을 찾지 못했어요. 얼굴이 정면으로 크게 잘 보이는 사진을 보내 주세요.",
        "en": "I couldn't find a face in that picture. Send one where your face is large and looks at the camera.",
    },
    "face.too_small": {
        "ko": "얼굴이 너무 작아요 ({size}px). 얼굴이 {min}px 이상으로 크게 나온 사진을 보내 주세요.",
        "en": "The face is too small ({size} px). Send a picture where the face is at least {min} px wide.",
    },
    "face.several_used_largest": {
        "ko": "사진에 얼굴이 여러 개 있어서 가장 큰 얼굴을 썼어요. 다른 얼굴을 쓰려면 그 사람만 나오게 잘라서 보내 주세요.",
        "en": "The picture has several faces; I used the largest. To use another, crop the picture to that person.",
    },
    "face.greyscale": {
        "ko": "흑백 사진이라 피부색은 짤에 맞춰 넣을게요. 컬러 사진을 보내면 더 자연스러워요.",
        "en": "That is a black-and-white photo, so skin colour will come from the meme. A colour photo looks better.",
    },
    "face.record_invalid": {
        "ko": "저장된 얼굴 정보를 읽을 수 없어요. /setface 로 얼굴을 다시 등록해 주세요.",
        "en": "Your saved face can't be read. Please register your face again with /setface.",
    },
    "face.bad_target": {
        "ko": "얼굴 번호 {index}은(는) 없어요. 이 짤의 얼굴은 {count}개예요 (0이 가장 큰 얼굴).",
        "en": "There is no face number {index}: this meme has {count} face(s), 0 is the largest.",
    },
    "face.bad_target_spec": {
        "ko": "바꿀 얼굴은 default, all, largest 또는 번호(0이 가장 큰 얼굴)로 골라 주세요: {value}",
        "en": "Choose the faces to swap with default, all, largest or a number (0 = largest): {value}",
    },
    "face.backend_unknown": {
        "ko": "알 수 없는 얼굴 엔진이에요: {name}. auto, dlib, insightface 중에서 골라 주세요.",
        "en": "Unknown face engine: {name}. Choose auto, dlib or insightface.",
    },
    "face.models_dir_missing": {
        "ko": "insightface 엔진을 쓰려면 모델 폴더를 FFFUSION_MODELS_DIR 로 지정해 주세요 (`fffusion swap`은 --models 폴더도 돼요).",
        "en": "The insightface engine needs a models folder: set FFFUSION_MODELS_DIR (or pass --models DIR to `fffusion swap`).",
    },
    "face.model_missing": {
        "ko": "insightface 모델 파일 {name}이(가) 없어요. 이 위치에 넣어 주세요: {where}",
        "en": "The insightface model file {name} is missing. Put it here: {where}",
    },
    "face.swapper_misplaced": {
        "ko": "inswapper_128.onnx 가 buffalo_l 폴더 안({found})에 있어요. 모델 폴더 바로 아래로 옮겨 주세요: {where}",
        "en": "inswapper_128.onnx is inside the buffalo_l folder ({found}). Move it up to {where}",
    },
    "face.model_broken": {
        "ko": "얼굴 모델 파일을 불러오지 못했어요 ({path}). 파일이 손상됐을 수 있으니 다시 받아 넣어 주세요.",
        "en": "Cannot load the face model file {path}. It may be damaged: replace it with a fresh copy.",
    },
    "swap.no_face_in_meme": {
        "ko": "이 짤에서 바꿀 얼굴을 찾지 못했어요. 사람 얼굴이 보이는 짤을 골라 주세요.",
        "en": "I found no face to swap in that meme. Pick a meme that shows a person's face.",
    },
    "swap.pose_mismatch": {
        "ko": "얼굴 방향이 너무 달라서 얼굴 하나는 그대로 뒀어요. 정면을 보는 사진을 등록하면 더 잘 돼요.",
        "en": "One face points too far away from yours, so I left it as it was. A front-facing photo works best.",
    },
    "swap.target_too_small": {
        "ko": "짤 속 얼굴이 너무 작아서 얼굴 하나는 그대로 뒀어요.",
        "en": "One face in the meme is too small to swap, so I left it as it was.",
    },
    # running the bot
    "run.nothing_configured": {
        "ko": "실행할 플랫폼이 없어요. FFFUSION_TELEGRAM_TOKEN, FFFUSION_DISCORD_TOKEN, FFFUSION_KAKAO_SECRET 중 하나 이상을 설정하거나, 웹 페이지만 열려면 FFFUSION_WEB_PAGE=true 로 해 주세요.",
        "en": "Nothing to run: set at least one of FFFUSION_TELEGRAM_TOKEN, FFFUSION_DISCORD_TOKEN, FFFUSION_KAKAO_SECRET, or FFFUSION_WEB_PAGE=true for the web page alone.",
    },
    # the store's database
    "db.schema_old": {
        "ko": "데이터베이스 스키마가 코드보다 오래됐어요 ({where}: v{found}, 코드는 v{code}). 먼저 `fffusion db migrate`를 실행해 주세요.",
        "en": "The database schema is older than the code ({where}: v{found}, the code needs v{code}). Run `fffusion db migrate` first.",
    },
    "db.schema_new": {
        "ko": "데이터베이스 스키마가 코드보다 새로워요 ({where}: v{found}, 코드는 v{code}). fffusion을 최신 버전으로 업그레이드해 주세요.",
        "en": "The database schema is newer than the code ({where}: v{found}, the code knows v{code}). Upgrade fffusion to the newer version.",
    },
    "db.unreachable": {
        "ko": "데이터베이스에 연결할 수 없어요 ({url}): {reason}",
        "en": "Cannot connect to the database {url}: {reason}",
    },
    "db.migrated": {
        "ko": "{where}: 스키마 v{found} → v{code}",
        "en": "{where}: schema v{found} -> v{code}",
    },
    "redis.unreachable": {
        "ko": "Redis에 연결할 수 없어요 ({url}): {reason}",
        "en": "Cannot connect to Redis at {url}: {reason}",
    },
    "scale.redis_needs_database": {
        "ko": "FFFUSION_REDIS_URL을 쓰려면 FFFUSION_DATABASE_URL(PostgreSQL)도 설정해야 해요: 여러 인스턴스가 같은 사람과 얼굴을 봐야 하니까요.",
        "en": "FFFUSION_REDIS_URL needs FFFUSION_DATABASE_URL (PostgreSQL) too: every instance must see the same people and faces.",
    },
    "worker.needs_redis": {
        "ko": "`fffusion worker`는 FFFUSION_REDIS_URL의 작업 큐에서 일해요. FFFUSION_REDIS_URL을 설정해 주세요.",
        "en": "`fffusion worker` takes its jobs from the queue at FFFUSION_REDIS_URL: set it.",
    },
    # the service
    "service.busy": {
        "ko": "지금 짤을 만드는 사람이 너무 많아요. 잠시 후에 다시 해 주세요.",
        "en": "Too many memes in the works right now. Please try again in a moment.",
    },
    "service.unavailable": {
        "ko": "지금은 짤을 만들 수 있는 곳이 모두 바빠요. 잠시 후에 다시 해 주세요.",
        "en": "I'm too busy to make memes right now. Please try again shortly.",
    },
    "catalog.not_shared": {
        "ko": "짤 목록을 아직 불러오는 중이에요. 잠시 후에 다시 해 주세요.",
        "en": "The meme list is still on its way. Please try again shortly.",
    },
    "service.rate_limited": {
        "ko": "너무 빨리 요청하고 있어요. {seconds}초 뒤에 다시 해 주세요.",
        "en": "You're going a bit fast. Try again in {seconds} seconds.",
    },
    "service.worker_died": {
        "ko": "짤을 만들다가 문제가 생겼어요. 한 번만 다시 해 주세요.",
        "en": "Something broke while making your meme. Please try once more.",
    },
    "service.timeout": {
        "ko": "짤을 만드는 데 너무 오래 걸려서 멈췄어요. 잠시 뒤에 다시 해 주세요.",
        "en": "Making your meme took far too long, so I stopped. Please try again in a moment.",
    },
    "service.stopping": {
        "ko": "봇이 잠시 재시작하는 중이에요. 조금 뒤에 다시 해 주세요.",
        "en": "The bot is restarting. Please try again shortly.",
    },
    "face.not_registered": {
        "ko": "아직 얼굴이 등록되지 않아서 원본 짤을 보냈어요. /setface 와 함께 얼굴 사진을 보내면 내 얼굴로 바꿔 드려요.",
        "en": "No face registered yet, so here is the original. Send a photo of yourself with /setface to star in it.",
    },
    "faces.list": {
        "ko": "등록한 얼굴 ({count}/{limit}): {names}",
        "en": "Your faces ({count}/{limit}): {names}",
    },
    # how faces.list names a face: the one used when none is named is marked; the face registered without a
    # name (stored as "기본", core/service/service.DEFAULT_FACE) is called what it is
    "faces.default_mark": {"ko": "{name} (기본으로 씀)", "en": "{name} (default)"},
    "faces.unnamed": {"ko": "이름 없는 얼굴", "en": "unnamed face"},
    "faces.none": {
        "ko": "아직 등록한 얼굴이 없어요. /setface 로 얼굴 사진을 보내 주세요.",
        "en": "You have no faces yet. Send a photo of yourself with /setface.",
    },
    "face.unknown_name": {
        "ko": "'{name}' 이라는 얼굴은 없어요. 등록한 얼굴 이름을 확인해 주세요.",
        "en": "There is no face named '{name}'. Check the names of your registered faces.",
    },
    "face.too_many": {
        "ko": "얼굴은 {limit}개까지 등록할 수 있어요 ({names}). 같은 이름으로 다시 등록하면 바뀌어요.",
        "en": "You can register up to {limit} faces ({names}). Registering under an existing name replaces it.",
    },
    "meme.no_swappable_face": {
        "ko": "이 짤에는 바꿀 수 있는 얼굴이 없어서 원본을 보냈어요.",
        "en": "This meme has no face I could swap, so here is the original.",
    },
    "meme.request_unknown": {
        "ko": "오래된 요청이라 다른 짤을 찾을 수 없어요. 문장을 다시 보내 주세요.",
        "en": "That request has expired. Send your sentence again.",
    },
    "meme.no_more": {
        "ko": "이 문장에 어울리는 짤을 다 보여 드렸어요. 다른 문장으로 해 보세요.",
        "en": "That's every meme that fits this sentence. Try another sentence.",
    },
    # swapping onto a picture someone posted
    "picture.needs_face": {
        "ko": "먼저 /setface 로 내 얼굴 사진을 등록해 주세요. 그러면 어떤 사진에든 내 얼굴을 넣어 드려요.",
        "en": "Register your face with /setface first; then I can put it onto any picture.",
    },
    "picture.needs_image": {
        "ko": "얼굴을 바꿀 사진이 없어요. 사진에 답장하거나 사진과 함께 보내 주세요.",
        "en": "There is no picture to swap onto. Reply to a picture or send one with the command.",
    },
    "picture.no_face": {
        "ko": "이 사진에서 사람 얼굴을 찾지 못했어요. 얼굴이 잘 보이는 사진에 해 주세요.",
        "en": "I found no face in that picture. Try one where a face is clearly visible.",
    },
    "picture.no_face_fits": {
        "ko": "이 사진의 얼굴 {count}개 모두 내 얼굴이 들어갈 수 없었어요 (방향이 너무 다르거나 너무 작아요). 정면 얼굴 사진에 해 보세요.",
        "en": "None of the {count} face(s) in that picture could take yours (turned too far away or too small). Try a picture with a front-facing face.",
    },
    "picture.swapped": {
        "ko": "사진 속 얼굴 {count}개 중 {swapped}개를 내 얼굴로 바꿨어요.",
        "en": "Swapped your face onto {swapped} of the {count} face(s) in the picture.",
    },
    "picture.host_not_allowed": {
        "ko": "이 사진은 가져올 수 없는 주소에 있어요. 채팅에 직접 올린 사진에만 할 수 있어요.",
        "en": "I can't fetch a picture from that address. It only works on pictures posted in the chat.",
    },
    "picture.download_failed": {
        "ko": "사진을 내려받지 못했어요. 잠시 후 다시 해 주세요.",
        "en": "I couldn't download that picture. Please try again in a moment.",
    },
    # "내 문장으로 자막" for every meme of a chat
    "chat_subtitle.on": {
        "ko": "이제 이 대화에서는 모든 짤에 보낸 문장이 자막으로 들어가요.",
        "en": "From now on, every meme in this chat carries your own sentence as its subtitle.",
    },
    "chat_subtitle.off": {
        "ko": "이 대화의 짤에는 짤 원래 자막이 들어가요.",
        "en": "Memes in this chat carry their own subtitles.",
    },
    # friends' faces in group memes, by consent per chat
    "share.on": {
        "ko": "이 채팅방의 친구들이 단체 짤에 내 얼굴을 쓸 수 있어요. 그만하려면 /shareface off",
        "en": "Friends in this chat may now put your face in group memes. To stop: /shareface off",
    },
    "share.off": {
        "ko": "이제 이 채팅방에서는 친구들이 내 얼굴을 쓸 수 없어요.",
        "en": "Friends in this chat can no longer use your face.",
    },
    "share.was_off": {
        "ko": "이 채팅방에서는 원래 얼굴 공유가 꺼져 있어요.",
        "en": "Sharing your face was already off in this chat.",
    },
    "share.needs_face": {
        "ko": "공유할 얼굴이 없어요. 먼저 /setface 로 얼굴을 등록해 주세요.",
        "en": "You have no face to share yet. Register one with /setface first.",
    },
    "share.needs_chat": {
        "ko": "얼굴 공유는 단체 채팅방(서버, 그룹)에서 켜고 끌 수 있어요.",
        "en": "Face sharing is turned on and off inside a group chat or server.",
    },
    "share.usage": {
        "ko": "/shareface on 으로 켜고 /shareface off 로 꺼요 (이 채팅방에서만).",
        "en": "Use /shareface on or /shareface off (for this chat only).",
    },
    "group.with": {"ko": "함께한 얼굴: {names}", "en": "Starring: {names}"},
    "group.not_shared": {
        "ko": "{names}: 이 채팅방에서 얼굴 공유를 허락하지 않아서 넣지 않았어요 (/shareface on 으로 허락할 수 있어요).",
        "en": "{names}: not in it, they have not allowed their face in this chat (they can with /shareface on).",
    },
    "group.no_room": {
        "ko": "{names}: 이 짤에는 자리가 모자라서 넣지 못했어요.",
        "en": "{names}: no room left on this meme.",
    },
    "group.not_placed": {
        "ko": "{names}: 얼굴 방향이 너무 달라서 넣지 못했어요.",
        "en": "{names}: their face could not be placed on this meme (turned too far).",
    },
    "group.no_meme": {
        "ko": "여러 명이 들어갈 수 있는 짤이 카탈로그에 없어요.",
        "en": "The catalog has no meme with room for several faces.",
    },
    # generic
    "file.unreadable": {
        "ko": "파일을 읽을 수 없어요: {path}",
        "en": "Cannot read the file: {path}",
    },
    "file.not_regular": {
        "ko": "보통 파일이 아니라서 읽지 않았어요 (장치, FIFO, 폴더): {path}",
        "en": "Not a regular file (a device, FIFO or folder), so it was not read: {path}",
    },
    "file.unwritable": {
        "ko": "파일을 쓸 수 없어요: {path} ({reason})",
        "en": "Cannot write the file: {path} ({reason})",
    },
    "catalog.no_such_meme": {
        "ko": "카탈로그에 그런 짤이 없어요: {name}",
        "en": "No meme with that id in the catalog: {name}",
    },
    "catalog.last_meme": {
        "ko": "마지막 남은 짤은 지울 수 없어요. 새 짤을 먼저 추가해 주세요.",
        "en": "The last meme cannot be deleted. Add another one first.",
    },
    "internal": {
        "ko": "잠깐 문제가 생겼어요. 조금 뒤에 다시 해 주세요.",
        "en": "Something went wrong on our side. Please try again in a moment.",
    },
}


def pick_lang(code: str | None) -> str:
    """Korean first; English when the client says so (any 'en*' locale)."""
    return "en" if code and code.lower().replace("_", "-").startswith("en") else DEFAULT_LANG


class Localized(dict[str, str]):
    """A message parameter given in every language ({"ko": ..., "en": ...}); `render` picks the reader's."""


def localized(key: str, **params: Any) -> Localized:
    """A message in every language, to pass as another message's parameter."""
    return Localized({lang: render(key, lang, **params) for lang in ("ko", "en")})


def register(texts: dict[str, dict[str, str]]) -> None:
    """Adds a platform's own texts (adapters/<platform>/texts.py). A key means one text: registering another
    text under a key already known is a defect."""
    clash = [key for key in texts if TEXTS.get(key, texts[key]) != texts[key]]
    if clash:
        raise ValueError(f"texts registered twice: {', '.join(clash)}")
    TEXTS.update(texts)


def render(key: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    texts = TEXTS.get(key)
    if texts is None:
        if STRICT:
            raise KeyError(f"no text for message key {key!r}")
        log.error("no text for message key %r", key)
        texts = TEXTS["internal"]
    template = texts.get(lang) or texts[DEFAULT_LANG]
    params = {k: v.get(lang) or v[DEFAULT_LANG] if isinstance(v, Localized) else v for k, v in params.items()}
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
