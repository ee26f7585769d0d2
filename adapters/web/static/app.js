// Keeps the try page in place: the forms post in the background and the answer fills the page.
// Without this file the same forms work as plain HTML (the server answers a whole page).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const alertBox = $("alert");
  const result = $("result");
  const meme = $("meme");

  function say(text) {
    alertBox.textContent = text;
    alertBox.className = "alert"; // a refusal, never the calm look of "deleted"
    alertBox.hidden = !text;
    if (text) alertBox.scrollIntoView({ block: "nearest" });
  }

  function show(data) {
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
    $("next").hidden = !data.has_next;
    if (data.face_saved) {
      $("face-hint").textContent = data.face_hint;
      $("face").value = "";
    }
    return loaded.then(() => {
      result.hidden = false;
      result.scrollIntoView({ block: "start", behavior: "smooth" });
      meme.dataset.requestId = data.request_id;
      meme.dataset.shown = String(Date.now());
    });
  }

  async function send(form) {
    const button = form.querySelector("button[type=submit]");
    const label = button.textContent;
    button.disabled = true;
    button.textContent = button.dataset.working || label;
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
        say("");
        await show(data);
      }
    } catch (err) {
      form.submit(); // the script could not talk to the server: let the plain form try
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  for (const id of ["make", "next-form"]) {
    $(id).addEventListener("submit", (event) => {
      event.preventDefault();
      send(event.target);
    });
  }

  // A preview of the picked photo, read locally (blob: URL; nothing is sent until the form is).
  const preview = $("face-preview");
  preview.onerror = () => { preview.hidden = true; }; // not a picture: the server will say so
  $("face").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.hidden = !file;
    if (file) preview.src = URL.createObjectURL(file);
  });
})();
