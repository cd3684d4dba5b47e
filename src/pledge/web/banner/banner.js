/* Pledge cookie banner, generated from privacy.yaml. No dependencies, no build step.
   Scripts written as <script type="text/plain" data-category="analytics"> run only after consent.
   Declaration text is only ever inserted with textContent. */
(() => {
  "use strict";
  const C = __PLEDGE_CONFIG__;
  const d = document, T = C.t;
  const LETTER = { preferences: "p", analytics: "a", advertising: "d" };
  const optional = C.cats.filter((c) => c.id !== "strictly_necessary");
  const gpc = navigator.globalPrivacyControl === true;
  const ran = new Set();
  let stored = read(), root, dialog, panel, lastFocus, review = false;
  const buttons = {}, boxes = {};

  // The stored choice: "1~visitor~letters~version~material[~signature]" (see consent_cookie.py).
  function read() {
    for (const part of d.cookie.split(";")) {
      const i = part.indexOf("=");
      if (part.slice(0, i).trim() !== C.cookie) continue;
      const f = part.slice(i + 1).trim().split("~");
      if (f[0] !== "1" || f.length < 5 || !/^[\w-]{16,64}$/.test(f[1])) continue;
      const ch = {};
      for (const l of f[2]) {
        const cat = Object.keys(LETTER).find((k) => LETTER[k] === l.toLowerCase());
        if (cat) ch[cat] = l !== l.toLowerCase();
      }
      return { id: f[1], ch, mt: f[4] };
    }
    return null;
  }

  // Asked again after a material change, or when a category was added since the visitor chose.
  const current = () => !!stored && stored.mt === C.mt && optional.every((c) => c.id in stored.ch);
  const blocked = (cat) => gpc && C.gpcOff.includes(cat);
  const allowed = (cat) =>
    cat === "strictly_necessary" || (current() && stored.ch[cat] === true && !blocked(cat));

  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function choose(ch) {
    for (const c of optional) ch[c.id] = ch[c.id] === true && !blocked(c.id);
    const withdrawn = [...ran].some((cat) => cat !== "strictly_necessary" && !ch[cat]);
    stored = { id: (stored && stored.id) || newId(), ch, mt: C.mt };
    const letters = optional.map((c) => (ch[c.id] ? LETTER[c.id].toUpperCase() : LETTER[c.id])).join("");
    d.cookie =
      `${C.cookie}=1~${stored.id}~${letters}~${C.vt}~${C.mt}; Path=/; Max-Age=${C.days * 86400}; ` +
      `SameSite=Lax${location.protocol === "https:" ? "; Secure" : ""}`;
    let sent;
    try {
      sent = fetch(C.endpoint, {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ cookie_id: stored.id, choices: ch, policy_version: C.version, gpc, source: "banner" }),
      }).catch(() => {});
    } catch (e) {
      /* recording failed: the choice still holds in this browser, and the page keeps working */
    }
    close();
    d.dispatchEvent(new CustomEvent("pledge:consent", { detail: { ...ch } }));
    // Scripts that already ran cannot be unloaded: a withdrawal takes effect on a fresh page,
    // loaded once the server has the withdrawal (or after 2 s, so the page never gets stuck).
    if (withdrawn) Promise.race([sent, new Promise((r) => setTimeout(r, 2000))]).then(() => location.reload());
    else activate();
  }

  // Swap each consented placeholder for a real script (copying src/text, attributes and nonce), in
  // document order: a placeholder after a classic src= script waits until that script has run.
  let busy = false, again = false;
  async function activate() {
    if (busy) return void (again = true);
    busy = true;
    do {
      again = false;
      for (const old of d.querySelectorAll('script[type="text/plain"][data-category]')) {
        const cats = old.dataset.category.split(/\s+/).filter(Boolean);
        if (!old.isConnected || !cats.length || !cats.every(allowed)) continue;
        const s = d.createElement("script");
        for (const a of old.attributes) if (a.name !== "type") s.setAttribute(a.name, a.value);
        if (old.dataset.type) s.type = old.dataset.type;
        s.nonce = old.nonce;
        let wait = null;
        if (!old.src) s.text = old.text;
        else {
          s.async = old.hasAttribute("async");
          if (!s.async) wait = new Promise((done) => ["load", "error"].forEach((e) => s.addEventListener(e, done)));
        }
        cats.forEach((c) => ran.add(c));
        old.replaceWith(s);
        if (wait) await wait;
      }
    } while (again);
    busy = false;
  }

  function el(tag, attrs, ...kids) {
    const e = d.createElement(tag);
    for (const k in attrs) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    e.append(...kids.filter((k) => k !== null));
    return e;
  }

  function build() {
    const only = !optional.length;
    const intro = el("p", { id: "pledge-intro", text: (only ? T.essential : T.intro) + " " });
    intro.append(el("a", { href: C.policy, text: T.policy }));
    panel = el("div", { class: "pledge-cats", id: "pledge-cats" });
    for (const c of C.cats) {
      const box = el("input", { type: "checkbox", id: `pledge-c-${c.id}`, "aria-describedby": `pledge-d-${c.id}` });
      const locked = c.id === "strictly_necessary";
      box.disabled = locked || blocked(c.id);
      boxes[c.id] = box;
      const note = locked ? T.always : blocked(c.id) ? T.gpc_off : null;
      const list = el("ul", {});
      for (const k of c.cookies) {
        const line = [k.by, k.k, k.for].filter(Boolean).join(" · ") + (k.d ? ". " + k.d : "");
        list.append(el("li", {}, el("code", { text: k.n }), " " + line));
      }
      panel.append(
        el(
          "div",
          { class: "pledge-cat" },
          el("label", {}, box, el("span", { text: c.label }), note && el("span", { class: "pledge-note", text: note })),
          el("p", { id: `pledge-d-${c.id}`, text: c.desc }),
          el("details", {}, el("summary", { text: `${T.cookies} (${c.cookies.length})` }), list),
        ),
      );
    }
    const actions = el("div", { class: "pledge-actions" });
    const all = (on) => Object.fromEntries(optional.map((c) => [c.id, on]));
    const acts = {
      accept: () => choose(all(true)),
      reject: () => choose(all(false)),
      customise: () => view(true, true),
      save: () => choose(Object.fromEntries(optional.map((c) => [c.id, boxes[c.id].checked]))),
      ok: close,
    };
    // Accept, reject and customise are the same element with the same class: equally prominent.
    for (const key in acts) {
      const b = el("button", { type: "button", class: "pledge-btn", text: T[key] });
      b.addEventListener("click", acts[key]);
      buttons[key] = b;
      if (only ? key === "ok" : key !== "ok") actions.append(b);
    }
    buttons.customise.setAttribute("aria-controls", "pledge-cats");
    dialog = el(
      "div",
      { class: "pledge-dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "pledge-title",
        "aria-describedby": "pledge-intro", tabindex: "-1" },
      el("h2", { id: "pledge-title", text: T.title }),
      intro,
      gpc ? el("p", { class: "pledge-gpc", text: T.gpc }) : null,
      panel,
      actions,
    );
    dialog.addEventListener("keydown", keys);
    root = el("div", { class: "pledge-root", hidden: "" }, dialog);
    d.body.append(root);
    d.addEventListener("focusin", (e) => {
      if (!root.hidden && !dialog.contains(e.target)) dialog.focus();
    });
  }

  function view(custom, focus) {
    panel.hidden = !custom && !!optional.length;
    buttons.customise.hidden = custom;
    buttons.customise.setAttribute("aria-expanded", String(custom));
    buttons.save.hidden = !custom;
    if (focus) (optional.map((c) => boxes[c.id]).find((b) => !b.disabled) || buttons.save).focus();
  }

  function keys(e) {
    if (e.key === "Escape") {
      // Escape never decides anything: it leaves the customise view, or closes a review.
      e.preventDefault();
      if (review && current()) close();
      else if (!panel.hidden && optional.length) {
        view(false);
        buttons.customise.focus();
      }
      return;
    }
    if (e.key !== "Tab") return;
    const f = [...dialog.querySelectorAll("a[href],button,input,summary")].filter(
      (x) => !x.disabled && x.getClientRects().length,
    );
    const first = f[0], last = f[f.length - 1], at = d.activeElement;
    if (e.shiftKey && (at === first || at === dialog)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && at === last) {
      e.preventDefault();
      first.focus();
    }
  }

  function show(custom) {
    if (!root) build();
    review = custom;
    for (const c of C.cats) boxes[c.id].checked = allowed(c.id);
    if (root.hidden) lastFocus = d.activeElement;
    root.hidden = false;
    view(custom);
    dialog.focus();
  }

  function close() {
    if (!root || root.hidden) return;
    root.hidden = true;
    if (lastFocus && lastFocus.isConnected && lastFocus.focus) lastFocus.focus();
  }

  window.Pledge = {
    open: () => show(true),
    allowed,
    consent: () => Object.fromEntries(C.cats.map((c) => [c.id, allowed(c.id)])),
  };

  function init() {
    activate();
    new MutationObserver((ms) => {
      if (ms.some((m) => [...m.addedNodes].some((n) => n.nodeName === "SCRIPT"))) activate();
    }).observe(d.documentElement, { childList: true, subtree: true });
    d.addEventListener("click", (e) => {
      const t = e.target.closest && e.target.closest("[data-pledge-open]");
      if (t) {
        e.preventDefault();
        show(true);
      }
    });
    if (optional.length && !current()) show(false);
  }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", init);
  else init();
})();
