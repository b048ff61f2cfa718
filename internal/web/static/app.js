// Vallum console: the little JavaScript that helps. Every page works
// without it; with it, countdowns tick, the sensor feed is live, the
// proposal form shows the guardrail's answer as you type, an entry's
// proof is verified in the browser, and a session transcript replays.
// Text from the server is inserted with textContent; the only innerHTML
// is the decision fragment the server rendered with html/template.
"use strict";

(function () {
  const body = document.body;
  const t = (k) => body.dataset["t" + k.charAt(0).toUpperCase() + k.slice(1)] || k;
  const csrf = body.dataset.csrf || "";

  // --- countdowns -------------------------------------------------------
  function human(ms) {
    let m = Math.round(Math.abs(ms) / 60000);
    const d = Math.floor(m / 1440); m -= d * 1440;
    const h = Math.floor(m / 60); m -= h * 60;
    if (d > 0) return d + " d " + h + " h";
    if (h > 0) return h + " h " + String(m).padStart(2, "0") + " min";
    return m + " min";
  }
  const countdowns = document.querySelectorAll("[data-countdown]");
  function tick() {
    const now = Date.now();
    countdowns.forEach((el) => {
      const due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) return;
      if (!el.dataset.rome) el.dataset.rome = el.textContent;
      const left = due - now;
      el.textContent = (left < 0 ? t("overdue") + " " : t("in") + " ") + human(left);
      el.title = el.dataset.rome;
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 6 * 3600 * 1000);
    });
  }
  if (countdowns.length) { tick(); setInterval(tick, 15000); }

  // --- live sensor feed (Server-Sent Events) ------------------------------
  const feed = document.getElementById("feed");
  if (feed && window.EventSource) {
    const state = document.getElementById("feedstate");
    const es = new EventSource("/feed?after=" + encodeURIComponent(feed.dataset.after || "-1"));
    es.addEventListener("sensor", (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      const empty = feed.querySelector(".empty");
      if (empty) empty.remove();
      const li = document.createElement("li");
      li.className = "ev new sev-" + (ev.severity || "info");
      const add = (tag, cls, text) => {
        const el = document.createElement(tag);
        if (cls) el.className = cls;
        el.textContent = text;
        li.appendChild(el);
        li.appendChild(document.createTextNode(" "));
        return el;
      };
      add("time", "", ev.when);
      add("span", "tag", ev.protocol || "");
      add("span", "tag", ev.kind || "");
      add("span", "src", ev.source || "");
      add("span", "sum", ev.summary || "");
      const a = add("a", "idx", "#" + ev.index);
      a.href = "/evidence-log/" + ev.index;
      feed.insertBefore(li, feed.firstChild);
      while (feed.children.length > 50) feed.removeChild(feed.lastChild);
      if (state) state.hidden = true;
    });
    es.addEventListener("signedout", () => es.close());
    es.onerror = () => { if (state) { state.textContent = t("feedoff"); state.hidden = false; } };
    es.onopen = () => { if (state) state.hidden = true; };
  }

  // --- decision as you type ------------------------------------------------
  const form = document.getElementById("proposal");
  const panel = document.getElementById("decision");
  if (form && panel && window.fetch) {
    let timer = 0, seq = 0;
    const preview = () => {
      const data = new URLSearchParams(new FormData(form));
      if (!data.get("kind") || !data.get("target")) return;
      const mine = ++seq;
      fetch(form.dataset.preview, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch" },
      }).then((r) => r.text().then((text) => ({ ok: r.ok, text })))
        .then(({ ok, text }) => {
          if (mine !== seq) return; // a newer preview is on its way
          if (ok) { panel.innerHTML = text; } else { panel.textContent = text; }
        }).catch(() => {});
    };
    const later = () => { clearTimeout(timer); timer = setTimeout(preview, 250); };
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    preview();
  }

  // --- proof verification in the browser ---------------------------------
  const box = document.getElementById("verify");
  if (box && window.crypto && crypto.subtle) {
    const button = document.getElementById("verify-button");
    const steps = document.getElementById("verify-steps");
    button.hidden = false;
    const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    const cat = (...parts) => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) { out.set(p, o); o += p.length; }
      return out;
    };
    const sha = async (b) => new Uint8Array(await crypto.subtle.digest("SHA-256", b));
    const step = (text, ok) => {
      const li = document.createElement("li");
      li.className = ok === true ? "ok" : ok === false ? "bad" : "";
      li.textContent = (ok === true ? "✓ " : ok === false ? "✗ " : "… ") + text;
      steps.appendChild(li);
      return li;
    };
    // RFC 9162 §2.1.3.2: the root from a leaf hash and its audit path.
    async function rootFrom(index, size, leaf, proof) {
      let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
      for (const p of proof) {
        if (sn === 0n) throw new Error("proof too long");
        if ((fn & 1n) === 1n || fn === sn) {
          r = await sha(cat(Uint8Array.of(1), p, r));
          if ((fn & 1n) === 0n) { while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; } }
        } else {
          r = await sha(cat(Uint8Array.of(1), r, p));
        }
        fn >>= 1n; sn >>= 1n;
      }
      if (sn !== 0n) throw new Error("proof too short");
      return r;
    }
    async function verify() {
      steps.textContent = "";
      button.disabled = true;
      try {
        const index = box.dataset.index;
        const header = b64(box.dataset.header);
        const leaf = await sha(cat(Uint8Array.of(0), header));
        step("leaf SHA-256(0x00 ‖ header) = " + hex(leaf).slice(0, 16) + "…", true);
        const res = await fetch("/log/v1/proof/inclusion?index=" + encodeURIComponent(index), { credentials: "omit" });
        if (!res.ok) throw new Error("proof: HTTP " + res.status);
        const p = await res.json();
        const cp = p.checkpoint;
        const cut = cp.indexOf("\n\n");
        if (cut < 0) throw new Error("checkpoint without signatures");
        const text = cp.slice(0, cut + 1);
        const lines = text.split("\n");
        const size = lines[1], root = b64(lines[2]);
        if (String(p.tree_size) !== size) throw new Error("proof and checkpoint sizes differ");
        const got = await rootFrom(index, size, leaf, p.proof.map(b64));
        const same = hex(got) === hex(root);
        step("root from " + p.proof.length + " proof hashes = " + hex(got).slice(0, 16) + "… " + (same ? "=" : "≠") + " checkpoint root (size " + size + ")", same);
        if (!same) throw new Error("the entry is not in the published tree");
        // Signed note: vkey is name+hash+base64(0x01 ‖ Ed25519 public key).
        // The name has no "+"; the base64 key may.
        const vkey = box.dataset.vkey;
        const i1 = vkey.indexOf("+"), i2 = vkey.indexOf("+", i1 + 1);
        if (i1 < 0 || i2 < 0) throw new Error("malformed verifier key");
        const name = vkey.slice(0, i1), keyhash = vkey.slice(i1 + 1, i2), keyb64 = vkey.slice(i2 + 1);
        const key = b64(keyb64);
        const sigs = cp.slice(cut + 2).split("\n").filter((l) => l.startsWith("— " + name + " "));
        let verified = false;
        for (const l of sigs) {
          const sig = b64(l.slice(("— " + name + " ").length));
          if (hex(sig.slice(0, 4)) !== keyhash || key[0] !== 1) continue;
          let pub;
          try {
            pub = await crypto.subtle.importKey("raw", key.slice(1), { name: "Ed25519" }, false, ["verify"]);
          } catch (e) {
            if (e.name !== "NotSupportedError") throw e;
            step(t("sigunsupported"), null);
            verified = null;
            break;
          }
          verified = await crypto.subtle.verify({ name: "Ed25519" }, pub, sig.slice(4), new TextEncoder().encode(text));
          break;
        }
        if (verified !== null) step("Ed25519 signature of " + name + " on the checkpoint", verified === true);
        step(verified === false ? t("bad") : t("ok"), verified !== false);
        box.dataset.result = verified === false ? "bad" : "ok";
      } catch (e) {
        step(t("bad") + ": " + e.message, false);
        box.dataset.result = "bad";
      } finally {
        button.disabled = false;
      }
    }
    button.addEventListener("click", verify);
  }

  // --- transcript replay ---------------------------------------------------
  const tr = document.getElementById("transcript");
  const play = document.getElementById("replay-play");
  const all = document.getElementById("replay-all");
  if (tr && play && all && tr.querySelector("[data-at]")) {
    play.hidden = all.hidden = false;
    let timer = 0;
    const items = Array.from(tr.querySelectorAll("[data-at]"));
    const show = () => { clearTimeout(timer); items.forEach((li) => { li.hidden = false; }); };
    play.addEventListener("click", () => {
      clearTimeout(timer);
      items.forEach((li) => { li.hidden = true; });
      let i = 0;
      const next = () => {
        if (i >= items.length) return;
        items[i].hidden = false;
        const gap = i + 1 < items.length ? Date.parse(items[i + 1].dataset.at) - Date.parse(items[i].dataset.at) : 0;
        i++;
        timer = setTimeout(next, Math.min(Math.max(gap, 150), 1500));
      };
      next();
    });
    all.addEventListener("click", show);
  }
})();
