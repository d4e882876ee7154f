// provisioner dashboard: the only script. No inline code (the CSP forbids it), no network but
// this app. It (1) keeps #live current: an EventSource says "change", the script fetches the
// server-rendered fragment again and swaps it in (the server escapes everything it renders);
// (2) narrows the new-instance form's type and region lists to the chosen provider.
"use strict";

function keepLive(live) {
  const streamUrl = live.dataset.stream;
  const refreshUrl = live.dataset.refresh;
  if (!streamUrl || !refreshUrl || !window.EventSource) return;
  const announce = document.getElementById("announce");
  let busy = false;
  let again = false;

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const response = await fetch(refreshUrl, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { window.location.assign("/signin"); return; }
      if (!response.ok) return;
      const html = await response.text();
      const open = [...live.querySelectorAll("details[open]")].map((d) => d.id).filter(Boolean);
      const focused = document.activeElement && live.contains(document.activeElement)
        ? document.activeElement.id : null;
      const before = live.querySelector("[data-status]");
      const oldStatus = before ? before.dataset.status : null;
      live.innerHTML = html;
      for (const id of open) {
        const box = document.getElementById(id);
        if (box) box.open = true;
      }
      if (focused) {
        const element = document.getElementById(focused);
        if (element) element.focus();
      }
      const after = live.querySelector("[data-status]");
      if (announce && after && after.dataset.status !== oldStatus) {
        announce.textContent = "Status: " + after.dataset.status;
      }
    } catch (error) {
      // the stream will say "change" again; nothing to do until then
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  const source = new EventSource(streamUrl);
  source.addEventListener("change", refresh);
  source.addEventListener("end", () => { source.close(); refresh(); });
}

function narrowByProvider(form) {
  const provider = form.querySelector("#provider");
  if (!provider) return;
  const selects = ["#instanceType", "#region"].map((s) => form.querySelector(s)).filter(Boolean);

  function apply() {
    const chosen = provider.value;
    for (const select of selects) {
      for (const group of select.querySelectorAll("optgroup")) {
        const mine = group.dataset.provider === chosen;
        group.hidden = !mine;
        group.disabled = !mine;
      }
      const current = select.selectedOptions[0];
      if (current && current.dataset.provider && current.dataset.provider !== chosen) {
        const first = select.querySelector(`optgroup[data-provider="${CSS.escape(chosen)}"] option`);
        if (select.id === "region") select.value = "";
        else if (first) select.value = first.value;
      }
    }
  }
  provider.addEventListener("change", apply);
  apply();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const live of document.querySelectorAll("#live")) keepLive(live);
  for (const form of document.querySelectorAll("form")) narrowByProvider(form);
});
