"""The web page's own texts (the try page and the studio), in Korean and English, registered with the shared
renderer (core/messages.py): a text worded this platform's way is "web.<name>"."""

from __future__ import annotations

from core.messages import register

register({
    "web.cannot_listen": {
        "ko": "웹 서버를 {host}:{port} 에서 열 수 없어요: {reason} (FFFUSION_HTTP_HOST / FFFUSION_HTTP_PORT)",
        "en": "Cannot listen on {host}:{port}: {reason} (FFFUSION_HTTP_HOST / FFFUSION_HTTP_PORT)",
    },
    "web.face.not_registered": {
        "ko": "아직 얼굴이 없어서 원본 짤을 보여 드려요. '얼굴 사진'에 내 사진을 올리면 내 얼굴로 바꿔 드려요.",
        "en": "No face yet, so here is the original. Add your photo under 'Face photo' to star in it.",
    },
    "web.face.record_invalid": {
        "ko": "저장된 얼굴 정보를 읽을 수 없어요. '얼굴 사진'에 사진을 다시 올려 주세요.",
        "en": "Your saved face can't be read. Please add your photo under 'Face photo' again.",
    },
    # the web page (adapters/web): the try page and the studio
    "web.title": {"ko": "무한짤봇", "en": "FFfusion meme bot"},
    "web.lede": {
        "ko": "얼굴 사진을 고르고 문장을 입력하면, 상황에 딱 맞는 짤에 내 얼굴을 합성해 드려요.",
        "en": "Pick a photo of your face, type a sentence, and get the meme that fits with your face on it.",
    },
    "web.face_label": {"ko": "얼굴 사진", "en": "Face photo"},
    "web.face_saved_hint": {
        "ko": "등록된 얼굴을 쓰고 있어요. 새 사진을 고르면 바뀌어요.",
        "en": "Using your saved face. Pick a new photo to replace it.",
    },
    "web.face_hint": {
        "ko": "정면 얼굴이 잘 나온 사진이 좋아요. 사진은 저장하지 않고 얼굴 정보만 {hours}시간 보관해요.",
        "en": "A clear, front-facing photo works best. The photo is not kept; the face is kept for {hours} h.",
    },
    "web.text_label": {"ko": "문장", "en": "Sentence"},
    "web.own_subtitle": {"ko": "내 문장으로 자막 넣기", "en": "My sentence as the subtitle"},
    "web.text_placeholder": {"ko": "시험 완전 망했어 ㅠㅠ", "en": "I totally failed the exam"},
    "web.submit": {"ko": "짤 만들기", "en": "Make the meme"},
    "web.working": {"ko": "만드는 중…", "en": "Working…"},
    "web.next": {"ko": "다른 짤", "en": "Another meme"},
    "web.download": {"ko": "저장하기", "en": "Download"},
    "web.forget": {"ko": "내 얼굴 지우기", "en": "Delete my face"},
    "web.face_saved": {"ko": "얼굴을 등록했어요.", "en": "Your face is saved."},
    "web.expired": {
        "ko": "페이지가 오래됐어요. 새로고침한 뒤 다시 해 주세요.",
        "en": "This page is out of date. Reload it and try again.",
    },
    "web.too_big": {
        "ko": "보낸 내용이 너무 커요. 사진은 {limit_mb}MB까지 보낼 수 있어요.",
        "en": "That upload is too large. Photos may be up to {limit_mb} MB.",
    },
    "web.bad_form": {"ko": "양식을 읽을 수 없어요. 다시 시도해 주세요.", "en": "The form could not be read. Try again."},
    "web.too_many_fields": {
        "ko": "양식에 칸이 너무 많아요 (최대 {limit}개). 페이지에서 다시 보내 주세요.",
        "en": "That form has too many fields (at most {limit}). Send it again from the page.",
    },
    "web.form_too_big": {
        "ko": "보낸 내용이 너무 커요. 한 번에 {limit_mb}MB까지 보낼 수 있어요.",
        "en": "That is too much at once. Up to {limit_mb} MB per send.",
    },
    "web.footer": {
        "ko": "카카오톡·텔레그램·디스코드에서도 같은 봇을 쓸 수 있어요.",
        "en": "The same bot works on KakaoTalk, Telegram and Discord.",
    },
    "web.serving": {
        "ko": "웹 페이지: {url} (Ctrl-C로 종료)",
        "en": "Web page: {url} (Ctrl-C stops it)",
    },
    "web.serving_studio": {"ko": "짤 스튜디오: {url}", "en": "Meme studio: {url}"},
    "web.pick_photo": {"ko": "사진 고르기", "en": "Choose a photo"},
    "web.take_photo": {"ko": "카메라로 찍기", "en": "Take a photo"},
    "web.no_photo": {"ko": "고른 사진 없음", "en": "No photo chosen"},
    "web.forget_confirm": {
        "ko": "등록한 얼굴을 지울까요? 지우면 되돌릴 수 없어요.",
        "en": "Delete your saved face? This cannot be undone.",
    },
    "web.forget_yes": {"ko": "지우기", "en": "Delete"},
    "web.same_meme": {
        "ko": "이 문장에도 같은 짤이 가장 잘 맞아요. '다른 짤'을 누르면 다음 후보를 볼 수 있어요.",
        "en": "The same meme fits this sentence best too. Press 'Another meme' for the next one.",
    },
    "studio.title": {"ko": "짤 스튜디오", "en": "Meme studio"},
    "studio.token_label": {"ko": "스튜디오 토큰", "en": "Studio token"},
    "studio.login": {"ko": "들어가기", "en": "Sign in"},
    "studio.logout": {"ko": "나가기", "en": "Sign out"},
    "studio.wrong_token": {"ko": "토큰이 맞지 않아요.", "en": "That token is not right."},
    "studio.summary": {
        "ko": "짤 {memes}개 · 얼굴 {faces}개 · 예시 얼굴이 합성되는 짤 {swaps}개",
        "en": "{memes} memes · {faces} faces · the sample face swaps onto {swaps}",
    },
    "studio.legend": {
        "ko": "노란 테두리: 기본으로 바꾸는 얼굴 · 흰 테두리: 찾은 다른 얼굴",
        "en": "Yellow outline: the faces swapped by default · white: other faces found",
    },
    "studio.swaps": {"ko": "예시 얼굴 합성 됨", "en": "sample face swaps"},
    "studio.no_swap": {"ko": "예시 얼굴 합성 안 됨", "en": "sample face does not swap"},
    "studio.no_face": {"ko": "얼굴 없음: 원본 그대로 보내요", "en": "no face found: sent as it is"},
    "studio.caption": {"ko": "설명", "en": "Caption"},
    "studio.examples": {"ko": "예시 문장 (한 줄에 하나)", "en": "Example sentences (one a line)"},
    "studio.subtitle": {
        "ko": "자막 (한 줄에 하나, 색은 앞에 #FFE23D처럼)",
        "en": "Subtitle (one line a row; a colour first, like #FFE23D)",
    },
    "studio.tags": {"ko": "태그 (쉼표로 구분)", "en": "Tags (comma-separated)"},
    "studio.faces": {
        "ko": "바꿀 얼굴 번호 (0 = 가장 큰 얼굴, 쉼표로 구분, 비우면 가장 큰 얼굴)",
        "en": "Faces to swap (0 = largest, comma-separated; empty = the largest)",
    },
    "studio.save": {"ko": "저장", "en": "Save"},
    "studio.delete": {"ko": "삭제", "en": "Delete"},
    "studio.saved": {"ko": "{name} 저장했어요.", "en": "Saved {name}."},
    "studio.deleted": {"ko": "{name} 삭제했어요.", "en": "Deleted {name}."},
    "studio.added": {"ko": "짤 {count}개를 추가했어요: {names}", "en": "Added {count} meme(s): {names}"},
    "studio.add_title": {"ko": "짤 추가", "en": "Add memes"},
    "studio.add_images": {"ko": "이미지 (여러 장 가능)", "en": "Images (one or many)"},
    "studio.add_captions": {
        "ko": "설명 (이미지마다 한 줄, 고른 순서대로)",
        "en": "Captions (one line per image, in the order picked)",
    },
    "studio.add": {"ko": "추가", "en": "Add"},
    "studio.captions_mismatch": {
        "ko": "이미지 {images}장에 설명 {captions}줄이에요. 이미지마다 한 줄씩 적어 주세요.",
        "en": "{images} image(s) but {captions} caption line(s): write one line per image.",
    },
    "studio.too_many_files": {
        "ko": "한 번에 {limit}장까지 올릴 수 있어요.",
        "en": "Up to {limit} images at a time.",
    },
    "studio.no_images": {"ko": "이미지를 골라 주세요.", "en": "Pick at least one image."},
    "studio.bad_faces": {
        "ko": "얼굴 번호는 0 이상의 숫자를 쉼표로 구분해 적어 주세요: {value}",
        "en": "Face numbers are whole numbers from 0, comma-separated: {value}",
    },
    # the studio, forgiving mistakes (issue 30)
    "studio.off": {
        "ko": "짤 스튜디오가 꺼져 있어요. 운영자가 FFFUSION_STUDIO_TOKEN (16자 이상)을 설정하면 켜져요.",
        "en": "The meme studio is off. The operator turns it on by setting FFFUSION_STUDIO_TOKEN (16+ characters).",
    },
    "studio.face_not_found": {
        "ko": "이 짤에서 찾은 얼굴은 {count}개라 0부터 {last}까지만 쓸 수 있어요: {value}",
        "en": "{count} face(s) were found in this meme, so only numbers 0 to {last} work: {value}",
    },
    "studio.no_faces_to_pick": {
        "ko": "이 짤에서는 얼굴을 찾지 못해서 바꿀 얼굴 번호를 정할 수 없어요. 비워 두세요.",
        "en": "No face was found in this meme, so there are no face numbers to pick. Leave it empty.",
    },
    "studio.delete_confirm": {
        "ko": "이 짤을 카탈로그에서 빼고 이미지 파일도 지울까요?",
        "en": "Remove this meme from the catalog and delete its image file?",
    },
    "studio.delete_yes": {"ko": "지우기", "en": "Delete"},
    "studio.edit": {"ko": "편집", "en": "Edit"},
    "studio.faceless_added": {
        "ko": "얼굴을 찾지 못한 짤: {names}. 얼굴 합성 없이 원본 그대로 보내요. 얼굴이 잘 보이는 사진으로 바꿔 주세요.",
        "en": "No face found in: {names}. These are sent as they are, with no face swapped; use a picture that shows a face.",
    },
    "studio.why.pose": {
        "ko": "예시 얼굴 합성 안 됨: 얼굴이 30도 넘게 돌아가 있어요",
        "en": "sample face does not swap: the face is turned more than 30 degrees",
    },
    "studio.why.small": {
        "ko": "예시 얼굴 합성 안 됨: 얼굴이 너무 작아요",
        "en": "sample face does not swap: the face is too small",
    },
    "studio.why.faces": {
        "ko": "예시 얼굴 합성 안 됨: 바꿀 얼굴 번호({faces})가 찾은 얼굴({count}개)에 없어요",
        "en": "sample face does not swap: face numbers ({faces}) beyond the {count} found",
    },
    "studio.pick_again": {
        "ko": "이미지는 다시 골라 주세요 (적은 설명은 그대로 뒀어요).",
        "en": "Pick the images again (your captions are kept).",
    },
    "studio.check_title": {"ko": "카탈로그 점검 (fffusion catalog check)", "en": "Catalog check (fffusion catalog check)"},
    "studio.search": {"ko": "짤 찾기 (id, 설명, 예시, 태그)", "en": "Find memes (id, caption, example, tag)"},
    "studio.search_button": {"ko": "찾기", "en": "Find"},
    "studio.search_count": {"ko": "'{query}': 짤 {count}개", "en": "'{query}': {count} meme(s)"},
    "studio.search_clear": {"ko": "모두 보기", "en": "Show all"},
    "studio.test_title": {"ko": "문장 테스트", "en": "Test a sentence"},
    "studio.test": {"ko": "순위 보기", "en": "Rank"},
    "studio.score": {"ko": "점수", "en": "score"},
})
