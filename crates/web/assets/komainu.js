// Komainu's one script: live fragments, copy buttons. Pages work without it. It acts only on
// elements the server wrote itself: never inside documentation content ([data-untrusted]), and
// live fragments only from this site's own paths.
"use strict";
const own = (el) => !el.closest("[data-untrusted]");
const ownPath = (p) => typeof p === "string" && p.startsWith("/") && !p.startsWith("//");
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-refresh]")) {
    if (!own(el) || !ownPath(el.dataset.refresh)) continue;
    const every = Number(el.dataset.every || 2000);
    const tick = async () => {
      try {
        const r = await fetch(el.dataset.refresh, { credentials: "same-origin" });
        if (r.ok) el.innerHTML = await r.text();
      } catch (_) { /* the next tick tries again */ }
    };
    setInterval(tick, every);
  }
  for (const btn of document.querySelectorAll("[data-copy]")) {
    if (!own(btn)) continue;
    btn.addEventListener("click", async () => {
      const source = document.getElementById(btn.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        btn.textContent = "Copied";
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        btn.textContent = "Selected: press Ctrl+C";
      }
    });
  }
});
document.addEventListener("DOMContentLoaded", () => {
  for (const t of document.querySelectorAll("time[data-local]")) {
    if (!own(t)) continue;
    const d = new Date(t.getAttribute("datetime"));
    if (!Number.isNaN(d.getTime())) t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }
  for (const input of document.querySelectorAll("[data-file-into]")) {
    if (!own(input)) continue;
    input.addEventListener("change", () => {
      const target = document.getElementById(input.dataset.fileInto);
      const file = input.files && input.files[0];
      if (!target || !file) return;
      file.text().then((text) => { target.value = text; });
    });
  }
});
