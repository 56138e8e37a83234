// The kiosk's service guide (办事指南): search by pinyin initials with the on-screen keyboard,
// browse by department, and open a matter's guide — its 取号办理 button carries data-matter,
// so the kiosk's own ticket flow (same endpoint, same result screen, 绿色通道) takes the ticket.

import { letterKeyboard } from "./keyboard.js";

const DEBOUNCE_MS = 250;
const REQUEST_TIMEOUT_MS = 15000;

/** A GET with a timeout that a newer request can cancel; resolves to the Response. */
function request(url, accept, previous) {
  if (previous) previous.abort();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  const promise = fetch(url, {
    headers: { Accept: accept },
    credentials: "same-origin",
    cache: "no-store",
    signal: controller.signal,
  }).finally(() => clearTimeout(timer));
  return { controller, promise };
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * Set up the guide screens of the kiosk page. `show(name)` switches screens (remembering the
 * way back); `T` holds the page's texts. Returns { reset } for the idle reset.
 */
export function initGuide({ root, show, T }) {
  const $ = (id) => document.getElementById(id);
  const matterBox = $("g-matter");
  const matterUrl = (code) =>
    root.dataset.guideMatterUrl.replace("__code__", encodeURIComponent(code));
  let matterLoad = null;
  let matterSeq = 0;

  // ------------------------------------------------------------ a matter's guide

  function matterMessage(text) {
    const box = element("div", "k-gm-missing");
    box.append(element("p", "k-empty", text));
    matterBox.replaceChildren(box);
  }

  async function openMatter(code) {
    const mine = ++matterSeq;
    matterMessage(T.loading);
    show("guide-matter");
    matterLoad = request(matterUrl(code), "text/html", matterLoad && matterLoad.controller);
    try {
      const res = await matterLoad.promise;
      const html = await res.text();
      if (mine !== matterSeq) return;
      // the server answers the screen (200) or a "not found" screen (404), both as HTML
      const doc = new DOMParser().parseFromString(html, "text/html");
      const part = doc.querySelector("[data-part=guide-matter]");
      if (!part) throw new Error(`HTTP ${res.status}`);
      matterBox.replaceChildren(document.adoptNode(part));
      const heading = matterBox.querySelector("h1");
      if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
      $("k-main").scrollTop = 0;
    } catch (_) {
      if (mine === matterSeq) matterMessage(T.load_error);
    }
  }

  // ------------------------------------------------------------ lists of matters

  function matterButton(m) {
    const button = element("button", "k-item");
    button.type = "button";
    button.dataset.guide = m.code;
    button.append(element("span", "k-item-title", m.name));
    const sub = element("span", "k-item-sub");
    sub.append(element("span", "k-item-dept", m.department));
    if (m.here) {
      sub.append(element("span", "k-prefix", m.queue), element("span", "", m.queue_name));
      const waiting = element("span", "k-waiting");
      const count = element("b", "", String(m.waiting));
      count.dataset.waiting = m.queue;
      waiting.append(`${T.waiting} `, count, ` ${T.people}`);
      sub.append(waiting);
    } else {
      sub.append(element("span", "k-chip k-chip-plain", T.not_here));
    }
    button.append(sub);
    const li = element("li");
    li.append(button);
    return li;
  }

  function fill(list, matters) {
    list.replaceChildren(...matters.map(matterButton));
  }

  function setStatus(el, text) {
    el.textContent = text || "";
    el.hidden = !text;
  }

  // ------------------------------------------------------------ browsing by department

  let deptLoad = null;
  let deptSeq = 0;

  async function openDepartment(button) {
    const mine = ++deptSeq;
    $("g-dept-title").textContent = button.dataset.name || "";
    $("g-dept-list").replaceChildren();
    setStatus($("g-dept-status"), T.loading);
    show("guide-dept");
    const url = root.dataset.guideDepartmentsUrl.replace(
      "__dept__", encodeURIComponent(button.dataset.guideDept),
    );
    deptLoad = request(url, "application/json", deptLoad && deptLoad.controller);
    try {
      const res = await deptLoad.promise;
      const data = await res.json();
      if (mine !== deptSeq) return;
      if (!res.ok) { setStatus($("g-dept-status"), data.message || T.load_error); return; }
      $("g-dept-title").textContent = data.department.name;
      fill($("g-dept-list"), data.matters);
      setStatus($("g-dept-status"), data.matters.length ? "" : T.none);
    } catch (_) {
      if (mine === deptSeq) setStatus($("g-dept-status"), T.load_error);
    }
  }

  // ------------------------------------------------------------ searching

  const results = $("g-results");
  const departments = $("g-departments");
  const title = $("g-results-title");
  const status = $("g-status");
  let timer = null;
  let searchLoad = null;
  let searchSeq = 0;

  function browse() {
    clearTimeout(timer);
    searchSeq++;
    if (searchLoad) { searchLoad.controller.abort(); searchLoad = null; }
    title.textContent = title.dataset.browse;
    results.replaceChildren();
    results.hidden = true;
    departments.hidden = false;
    setStatus(status, "");
  }

  async function search(query) {
    const mine = ++searchSeq;
    setStatus(status, T.searching);
    searchLoad = request(
      `${root.dataset.guideUrl}?q=${encodeURIComponent(query)}`,
      "application/json",
      searchLoad && searchLoad.controller,
    );
    try {
      const res = await searchLoad.promise;
      const data = await res.json();
      if (mine !== searchSeq) return;
      if (!res.ok) { setStatus(status, data.message || T.load_error); return; }
      departments.hidden = true;
      results.hidden = false;
      fill(results, data.matters);
      title.textContent = (data.more ? T.found_more : T.found).replace("{n}", data.count);
      setStatus(status, data.count ? "" : T.none);
      $("g-results-box").scrollTop = 0;
    } catch (_) {
      if (mine === searchSeq) setStatus(status, T.load_error);
    }
  }

  function typed(value) {
    $("g-letters").textContent = value.toUpperCase();
    $("g-typed-empty").hidden = Boolean(value);
    $("g-typed").classList.toggle("has-value", Boolean(value));
    if (!value) { browse(); return; }
    clearTimeout(timer);
    setStatus(status, T.searching);
    timer = setTimeout(() => search(value), DEBOUNCE_MS);
  }

  const keyboard = $("g-keyboard") ? letterKeyboard($("g-keyboard"), { onChange: typed }) : null;

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button[data-guide], button[data-guide-dept]");
    if (!target) return;
    if (target.dataset.guide) openMatter(target.dataset.guide);
    else openDepartment(target);
  });

  return {
    reset() {
      matterSeq++;
      deptSeq++;
      if (keyboard) { keyboard.clear(); browse(); }
    },
  };
}
