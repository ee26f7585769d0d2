// Keeps the try page in place: the forms post in the background and the answer fills the page.
// Without this file the same forms work as plain HTML (the server answers a whole page).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const alertBox = $("alert");
  const result = $("result");
  const meme = $("meme");
  const wide = window.matchMedia("(min-width: 960px)"); // the form and the meme side by side

  function say(text) {
    alertBox.textContent = text;
    alertBox.className = "alert"; // a refusal, never the calm look of "deleted"
    alertBox.hidden = !text;
    if (text) alertBox.scrollIntoView({ block: "nearest" });
  }

  // A choice: each picture is a form that picks it (the same markup as the server's, pages.choices).
  function choose(data) {
    const list = $("choice-list");
    const csrf = $("make").querySelector("input[name=csrf]").value;
    list.replaceChildren(...data.choices.map((choice, n) => {
      const form = document.createElement("form");
      form.className = "choice";
      form.method = "post";
      form.action = "/pick";
      for (const [name, value] of [["csrf", csrf], ["request_id", data.request_id], ["index", choice.index]]) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = String(value);
        form.append(input);
      }
      const button = document.createElement("button");
      button.type = "submit";
      const img = document.createElement("img");
      img.src = choice.url;
      img.alt = choice.caption;
      const label = document.createElement("span");
      label.textContent = `${n + 1}. ${choice.caption}`;
      button.append(img, label);
      form.append(button);
      return form;
    }));
    $("choices-intro").textContent = data.caption;
    $("more-request-id").value = data.request_id;
    $("more").hidden = !data.has_next;
    result.hidden = true;
    $("choices").hidden = false;
    $("choices").scrollIntoView({ block: "start", behavior: "smooth" });
    return Promise.resolve();
  }

  function show(data, fresh) {
    if (data.choices.length || !data.url) return choose(data);
    $("choices").hidden = true;
    // a new sentence that picks the meme already shown: say so, or nothing seems to happen
    const same = fresh && !result.hidden && data.caption === $("caption").textContent;
    const loaded = new Promise((resolve) => {
      meme.onload = resolve;
      meme.onerror = resolve;
    });
    meme.src = data.url;
    meme.alt = data.caption;
    $("caption").textContent = data.caption;
    $("notice").textContent = data.notice;
    $("notice").hidden = !data.notice;
    $("download").href = data.url;
    $("request-id").value = data.request_id;
    $("choose-request-id").value = data.request_id;
    $("next").hidden = !data.has_next;
    $("choose").hidden = !data.has_next;
    if (data.face_saved) {
      $("face-hint").textContent = data.face_hint;
      clearPicks();
      $("forget-box").hidden = false; // there is a face to delete now
    }
    return loaded.then(() => {
      result.hidden = false;
      $("same").hidden = !same;
      result.classList.remove("again");
      if (same) requestAnimationFrame(() => result.classList.add("again"));
      if (!wide.matches) result.scrollIntoView({ block: "start", behavior: "smooth" });
      meme.dataset.requestId = data.request_id;
      meme.dataset.shown = String(Date.now());
    });
  }

  async function send(form) {
    const button = form.querySelector("button[type=submit]");
    const label = button.textContent;
    button.disabled = true;
    button.textContent = button.dataset.working || label;
    say(""); // an old refusal does not stay up while the new request runs
    try {
      const resp = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await resp.json();
      if (!resp.ok || data.error) {
        say(data.error || resp.statusText);
      } else {
        await show(data, form.id === "make");
      }
    } catch (err) {
      form.submit(); // the script could not talk to the server: let the plain form try
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  // every form of the try page but "forget" (the choices' forms come and go, so one listener for all)
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.id === "forget-form") return;
    event.preventDefault();
    send(form);
  });

  // A preview of the picked photo, read locally (blob: URL; nothing is sent until the form is). The photo comes
  // from the file picker or the camera: one of the two, so the other is emptied.
  const preview = $("face-preview");
  const picks = [$("face"), $("camera")];
  const picked = $("face-name");
  preview.onerror = () => { preview.hidden = true; }; // not a picture: the server will say so

  function clearPicks() {
    for (const input of picks) input.value = "";
    picked.textContent = picked.dataset.none;
    preview.hidden = true;
  }

  for (const input of picks) {
    input.addEventListener("change", () => {
      const file = input.files[0];
      for (const other of picks) if (other !== input) other.value = "";
      if (preview.src) URL.revokeObjectURL(preview.src);
      preview.hidden = !file;
      picked.textContent = file ? file.name : picked.dataset.none;
      if (file) preview.src = URL.createObjectURL(file);
    });
  }
})();
