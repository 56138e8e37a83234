/* Case work at the counter (办件): the finish panel, the print buttons of the cases it made,
 * and the two panels 我的办件 (own open cases) and 本窗口今日 (this window's rates today).
 *
 * counter.js opens the finish panel with F (HallOutcomes.open) and hears back when a finish
 * is saved. In the panel, outside text fields: 1–5 choose the outcome of the matter that has
 * the focus · A add a matter (search box) · Enter save · Esc cancel. What was typed stays
 * for this ticket after Esc or an error, and is sent again by the next Enter.
 * The JSON API is called with the session cookie and the X-CSRFToken header; errors are
 * shown in the panel in Chinese and English. The two panels are HTML rendered by the server
 * (GET …/panels), put in again after every change.
 */
(function () {
  "use strict";

  var root = document.getElementById("counter");
  if (!root) return;
  var el = function (id) { return document.getElementById(id); };
  var T = JSON.parse(el("counter-texts").textContent);
  var data = JSON.parse(el("finish-data").textContent);
  var csrfToken = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var english = document.documentElement.lang === "en";
  var panel = el("finish-dialog"), form = el("finish-form"), rowsBox = el("finish-rows");
  var saveButton = el("finish-save"), errorBox = el("finish-error");
  var search = el("matter-search"), results = el("matter-results");
  var caseDialog = el("case-dialog"), caseForm = el("case-form");
  var DOCUMENT_OF = {
    on_the_spot: "completion", accepted: "receipt", correction: "correction", rejected: "rejection",
  };
  var CASE_MESSAGES = {
    complete: "case_completed_msg", pause: "case_paused_msg", resume: "case_resumed_msg",
  };
  // the second line of the panel's own messages (the API sends its own English)
  var EN = {
    need_matter: "Record an outcome for at least one matter; choose 咨询 (consultation) for questions only.",
    need_outcome: "“{matter}” has no outcome yet (keys 1–5).",
    need_missing: "“{matter}” needs corrections: tick or type at least one missing material.",
    need_reason: "“{matter}” is not accepted: give the reason.",
    need_pause_reason: "Give the reason for pausing the clock.",
    immediate_no_accept: "“{matter}” is an immediate matter without a promised limit: it cannot be accepted for later; complete it on the spot.",
    network_error: "Network error; nothing may have been saved. Try again.",
    refresh_failed: "Could not refresh “my cases” and today's rates; reload the page.",
  };

  var hooks = null;        // from counter.js: ticketUrl(id, action), windowNumber, onFinished(body)
  var ticket = null;       // the ticket the panel's rows belong to
  var matters = {};        // code → matter with its materials
  var loading = {};        // code → promise of the matter
  var rowSeq = 0;
  var activeRow = null;
  var saving = false;
  var searchSeq = 0, searchTimer = null, found = [], highlighted = -1, pickWhenFound = false;
  var shownQuery = null;   // the query `found` answers

  data.usual.forEach(function (m) { matters[m.code] = m; });

  // ------------------------------------------------------------ helpers

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (whole, key) {
      return values && values[key] != null ? String(values[key]) : whole;
    });
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") {
      return true;
    }
    return target.tagName === "INPUT" && !/^(radio|checkbox|button|submit|reset)$/.test(target.type);
  }

  function composing(event) {
    return event.isComposing || event.keyCode === 229;  // an input method is still composing
  }

  function request(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrfToken;
      options.body = JSON.stringify(body || {});
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (json) {
        if (!response.ok || json === null) {
          var err = new Error((json && json.message_en) || "HTTP " + response.status);
          err.body = json;
          err.status = response.ok ? 401 : response.status;  // HTML instead of JSON: signed out
          throw err;
        }
        return json;
      });
    });
  }

  /* Chinese (or the page's language) first, then English unless the page is English. */
  function show(box, kind, main, en) {
    box.textContent = "";
    box.hidden = false;
    if (kind) box.className = "ct-messages ct-messages-" + kind;
    var first = document.createElement("p");
    first.textContent = main;
    box.appendChild(first);
    if (en && en !== main && !english) {
      var second = document.createElement("p");
      second.lang = "en";
      second.className = "ct-en";
      second.textContent = en;
      box.appendChild(second);
    }
    return box;
  }

  function apiProblem(err) {
    if (err && err.body && err.body.message) {
      return [english && err.body.message_en ? err.body.message_en : err.body.message,
              err.body.message_en];
    }
    if (err && err.status === 401) return [T.login_again, "Signed out; sign in again."];
    return [T.network_error, EN.network_error];
  }

  function loginLink(box, err) {
    if (err && err.status === 401) {
      var link = document.createElement("a");
      link.href = root.dataset.urlLogin;
      link.textContent = T.login_again;
      box.appendChild(link);
    }
  }

  // ------------------------------------------------------------ matters and their materials

  function loadMatter(code) {
    if (matters[code] && matters[code].materials) return Promise.resolve(matters[code]);
    if (!loading[code]) {
      var url = root.dataset.urlMatter.replace("__CODE__", encodeURIComponent(code));
      loading[code] = request("GET", url).then(function (matter) {
        matters[code] = matter;
        return matter;
      }).catch(function (err) {
        delete loading[code];
        throw err;
      });
    }
    return loading[code];
  }

  function materialNote(material) {
    var parts = [material.form_label];
    if (material.copies > 1) parts.push(fmt(T.copies, { n: material.copies }));
    if (material.notes) parts.push(material.notes);
    return parts.filter(Boolean).join("；");
  }

  function materialBox(list, material, checked, note) {
    var label = document.createElement("label");
    label.className = "ct-check";
    var input = document.createElement("input");
    input.type = "checkbox";
    input.checked = checked;
    input.dataset.name = material.name;
    input.dataset.note = note;
    label.appendChild(input);
    label.appendChild(document.createTextNode(" " + material.name));
    var extra = [material.form_label,
                 material.copies > 1 ? fmt(T.copies, { n: material.copies }) : "",
                 material.required === false ? T.not_required : ""].filter(Boolean).join(" · ");
    if (extra) {
      var small = document.createElement("span");
      small.className = "ct-muted";
      small.textContent = " " + extra;
      label.appendChild(small);
    }
    list.appendChild(label);
  }

  function listNote(list, text) {
    list.textContent = "";
    var p = document.createElement("p");
    p.className = "ct-muted";
    p.textContent = text;
    list.appendChild(p);
  }

  function fillMaterials(row) {
    var received = row.querySelector('[data-list="received"]');
    var missing = row.querySelector('[data-list="missing"]');
    listNote(received, T.materials_loading);
    listNote(missing, T.materials_loading);
    loadMatter(row.dataset.code).then(function (matter) {
      received.textContent = "";
      missing.textContent = "";
      var materials = matter.materials || [];
      if (!materials.length) {
        listNote(received, T.no_materials);
        listNote(missing, T.no_materials);
      }
      materials.forEach(function (m) {
        materialBox(received, m, true, "");
        materialBox(missing, m, false, materialNote(m));
      });
      if (matter.kind === "immediate" || !(matter.promised_limit && matter.promised_limit.days > 0)) {
        var accept = row.querySelector('input[value="accepted"]');  // 即办件: never accepted
        accept.disabled = true;
        accept.closest("label").title = fmt(T.immediate_no_accept, { matter: matter.name });
        if (accept.checked) {
          accept.checked = false;
          showDetail(row);
        }
      }
      var limit = matter.promised_limit && matter.promised_limit.label;
      row.querySelector(".ct-oc-limit").textContent =
        (limit ? fmt(T.promised, { limit: limit }) + " " : "") + T.due_after_save;
      if (!row.querySelector(".ct-oc-kind").textContent) {
        row.querySelector(".ct-oc-kind").textContent = matter.kind_label || "";
      }
    }).catch(function () {
      listNote(received, T.materials_failed);
      listNote(missing, T.materials_failed);
    });
  }

  // ------------------------------------------------------------ rows: one matter, one outcome

  function rows() {
    return Array.prototype.slice.call(rowsBox.querySelectorAll(".ct-oc-row"));
  }

  function rowName(row) {
    return row.querySelector(".ct-oc-name").textContent;
  }

  function addRow(matter) {
    var row = el("outcome-row-template").content.firstElementChild.cloneNode(true);
    rowSeq += 1;
    row.dataset.code = matter.code;
    row.querySelector(".ct-oc-name").textContent = matter.name || matter.code;
    row.querySelector(".ct-oc-code").textContent = matter.code;
    row.querySelector(".ct-oc-kind").textContent = matter.kind_label || "";
    Array.prototype.forEach.call(row.querySelectorAll('input[type="radio"]'), function (radio) {
      radio.name = "outcome-" + rowSeq;
      radio.addEventListener("change", function () { showDetail(row); });
    });
    row.querySelector(".ct-oc-remove").addEventListener("click", function () { removeRow(row); });
    row.addEventListener("focusin", function () { activeRow = row; });
    rowsBox.appendChild(row);
    fillMaterials(row);
    hideError();
    return row;
  }

  function removeRow(row) {
    var list = rows(), index = list.indexOf(row);
    row.remove();
    var next = rows()[Math.min(index, rows().length - 1)];
    if (activeRow === row) activeRow = null;
    if (next) focusRow(next);
    else search.focus();
  }

  function outcomeOf(row) {
    var checked = row.querySelector('input[type="radio"]:checked');
    return checked ? checked.value : "";
  }

  function showDetail(row) {
    var outcome = outcomeOf(row);
    row.dataset.outcome = outcome;
    Array.prototype.forEach.call(row.querySelectorAll(".ct-oc-detail"), function (part) {
      part.hidden = part.dataset.for !== outcome;
    });
  }

  function focusRow(row) {
    var radio = row.querySelector('input[type="radio"]:checked') ||
      row.querySelector('input[type="radio"]');
    activeRow = row;
    radio.focus();
  }

  /* A digit key: the outcome, then the first thing to fill in for it. */
  function chooseOutcome(row, key) {
    var radio = row.querySelector('input[data-key="' + key + '"]');
    if (radio.disabled) {
      var values = { matter: rowName(row) };
      show(errorBox, null, fmt(T.immediate_no_accept, values), fmt(EN.immediate_no_accept, values));
      return;
    }
    hideError();
    radio.checked = true;
    showDetail(row);
    var next = {
      accepted: '[data-field="applicant_name"]',
      correction: '[data-list="missing"] input, [data-field="missing_extra"]',
      rejected: '[data-field="reason"]',
    }[radio.value];
    (next ? row.querySelector(next) : radio).focus();
  }

  function addExtra(row, text) {
    var list = row.querySelector('[data-list="extra"]');
    var item = document.createElement("li");
    item.dataset.name = text;
    var span = document.createElement("span");
    span.textContent = text;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "ct-link-button";
    remove.textContent = T.remove;
    remove.addEventListener("click", function () {
      item.remove();
      row.querySelector('[data-field="missing_extra"]').focus();
    });
    item.appendChild(span);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(remove);
    list.appendChild(item);
  }

  function currentRow() {
    if (activeRow && activeRow.isConnected) return activeRow;
    var list = rows();
    for (var i = 0; i < list.length; i++) if (!outcomeOf(list[i])) return list[i];
    return list[list.length - 1] || null;
  }

  // ------------------------------------------------------------ adding a matter: search or pick

  function renderUsual() {
    var box = el("usual-matters");
    box.textContent = "";
    el("usual-box").hidden = !data.usual.length;
    data.usual.forEach(function (m) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "ct-chip";
      button.dataset.code = m.code;
      button.title = m.code;
      button.textContent = m.name;
      button.addEventListener("click", function () { focusRow(addRow(m)); });
      box.appendChild(button);
    });
  }

  function clearSearch() {
    search.value = "";
    found = [];
    highlighted = -1;
    pickWhenFound = false;
    shownQuery = null;
    searchSeq += 1;
    clearTimeout(searchTimer);
    results.textContent = "";
    results.hidden = true;
    search.setAttribute("aria-expanded", "false");
    search.removeAttribute("aria-activedescendant");
    el("matter-search-status").textContent = "";
  }

  function renderResults() {
    results.textContent = "";
    found.forEach(function (m, i) {
      var item = document.createElement("li");
      item.id = "matter-option-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", i === highlighted ? "true" : "false");
      item.className = "ct-oc-result" + (i === highlighted ? " ct-oc-result-on" : "");
      item.dataset.code = m.code;
      var name = document.createElement("strong");
      name.textContent = m.name;
      var meta = document.createElement("span");
      meta.className = "ct-muted";
      meta.textContent = " " + m.code + (m.department ? " · " + m.department.name : "");
      item.appendChild(name);
      item.appendChild(meta);
      item.addEventListener("mousedown", function (event) { event.preventDefault(); });
      item.addEventListener("click", function () { pick(m); });
      results.appendChild(item);
    });
    results.hidden = !found.length;
    search.setAttribute("aria-expanded", found.length ? "true" : "false");
    if (highlighted >= 0) search.setAttribute("aria-activedescendant", "matter-option-" + highlighted);
    else search.removeAttribute("aria-activedescendant");
  }

  function runSearch() {
    var query = search.value.trim();
    var seq = ++searchSeq;
    if (!query) {
      clearSearch();
      return;
    }
    var url = root.dataset.urlMatters + "?limit=8&q=" + encodeURIComponent(query);
    request("GET", url).then(function (body) {
      if (seq !== searchSeq) return;
      shownQuery = query;
      found = body.matters || [];
      highlighted = found.length ? 0 : -1;
      renderResults();
      el("matter-search-status").textContent = found.length ? "" : T.search_none;
      if (pickWhenFound) {
        pickWhenFound = false;
        if (found.length) pick(found[0]);
      }
    }).catch(function () {
      if (seq !== searchSeq) return;
      pickWhenFound = false;
      el("matter-search-status").textContent = T.search_failed;
    });
  }

  function pick(matter) {
    clearSearch();
    focusRow(addRow(matter));
  }

  search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 150);
  });

  search.addEventListener("keydown", function (event) {
    if (composing(event)) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!found.length) return;
      var step = event.key === "ArrowDown" ? 1 : -1;
      highlighted = (highlighted + step + found.length) % found.length;
      renderResults();
    } else if (event.key === "Enter") {
      event.preventDefault();
      event.stopPropagation();
      var query = search.value.trim();
      if (!query) {
        save();
      } else if (query !== shownQuery) {
        pickWhenFound = true;  // typed and pressed Enter at once: take the first match
        clearTimeout(searchTimer);
        runSearch();
      } else if (found.length) {
        pick(found[Math.max(highlighted, 0)]);
      }
    }
  });

  // ------------------------------------------------------------ the panel

  function hideError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function reset(current) {
    ticket = { id: current.id, number: current.number, withMatter: !!current.matter };
    rowsBox.textContent = "";
    activeRow = null;
    hideError();
    clearSearch();
    if (current.matter) addRow({ code: current.matter, name: current.matter_name });
  }

  function open(current) {
    if (!ticket || ticket.id !== current.id) reset(current);
    else if (!ticket.withMatter && current.matter) {  // its matter came after the first F
      ticket.withMatter = true;
      addRow({ code: current.matter, name: current.matter_name });
    }
    el("finish-number").textContent = current.number;
    panel.showModal();
    var first = rows()[0];
    if (activeRow && activeRow.isConnected) focusRow(activeRow);
    else if (first) focusRow(first);
    else search.focus();
  }

  function collect() {
    var list = rows(), outcomes = [], names = [];
    if (!list.length) return { problem: "need_matter", focus: search };
    for (var i = 0; i < list.length; i++) {
      var row = list[i], outcome = outcomeOf(row), name = rowName(row);
      if (!outcome) {
        return { problem: "need_outcome", matter: name, focus: row.querySelector('input[type="radio"]') };
      }
      var item = { matter: row.dataset.code, outcome: outcome };
      if (outcome === "accepted") {
        item.applicant_name = row.querySelector('[data-field="applicant_name"]').value.trim();
        item.applicant_phone = row.querySelector('[data-field="applicant_phone"]').value.trim();
        item.materials_received = checkedMaterials(row, "received");
      } else if (outcome === "correction") {
        var extra = row.querySelector('[data-field="missing_extra"]');
        if (extra.value.trim()) {  // typed but not added with Enter: it counts
          addExtra(row, extra.value.trim());
          extra.value = "";
        }
        item.missing_materials = checkedMaterials(row, "missing").concat(
          Array.prototype.map.call(row.querySelectorAll('[data-list="extra"] li'), function (li) {
            return { name: li.dataset.name, note: "" };
          }));
        if (!item.missing_materials.length) {
          return { problem: "need_missing", matter: name, focus: extra };
        }
      } else if (outcome === "rejected") {
        var reason = row.querySelector('[data-field="reason"]');
        item.reason = reason.value.trim();
        if (!item.reason) return { problem: "need_reason", matter: name, focus: reason };
      }
      outcomes.push(item);
      names.push(name);
    }
    return { outcomes: outcomes, names: names };
  }

  /* The field the server refused: marked, scrolled to and focused (the text stays). */
  function markInvalid(row, field) {
    var target = {
      applicant_name: '[data-field="applicant_name"]',
      applicant_phone: '[data-field="applicant_phone"]',
      reason: '[data-field="reason"]',
      missing_materials: '[data-field="missing_extra"]',
      materials_received: '[data-list="received"] input',
    }[field];
    var input = (target && row.querySelector(target)) ||
      row.querySelector('input[type="radio"]:checked') || row.querySelector('input[type="radio"]');
    row.classList.add("ct-oc-row-invalid");
    if (input.type !== "radio" && input.type !== "checkbox") {
      input.setAttribute("aria-invalid", "true");
      input.addEventListener("input", function clear() {
        input.removeAttribute("aria-invalid");
        row.classList.remove("ct-oc-row-invalid");
        input.removeEventListener("input", clear);
      });
    }
    input.focus();
  }

  function checkedMaterials(row, which) {
    var boxes = row.querySelectorAll('[data-list="' + which + '"] input[type="checkbox"]');
    return Array.prototype.filter.call(boxes, function (box) { return box.checked; })
      .map(function (box) { return { name: box.dataset.name, note: box.dataset.note || "" }; });
  }

  function save() {
    if (saving || !ticket || !hooks) return;
    var collected = collect();
    if (collected.problem) {
      var values = { matter: collected.matter };
      show(errorBox, null, fmt(T[collected.problem], values), fmt(EN[collected.problem], values));
      var invalid = collected.focus.closest(".ct-oc-row");
      if (invalid) invalid.classList.add("ct-oc-row-invalid");
      collected.focus.focus();
      return;
    }
    Array.prototype.forEach.call(rowsBox.querySelectorAll(".ct-oc-row-invalid"), function (row) {
      row.classList.remove("ct-oc-row-invalid");
    });
    saving = true;
    saveButton.disabled = true;
    form.setAttribute("aria-busy", "true");
    hideError();
    var saved = ticket;
    request("POST", hooks.ticketUrl(saved.id, "finish"), {
      window: hooks.windowNumber, outcomes: collected.outcomes,
    }).then(function (body) {
      ticket = null;
      rowsBox.textContent = "";
      activeRow = null;
      if (panel.open) panel.close();
      showResult(body.ticket || saved, body.cases || [], collected);
      hooks.onFinished(body);
      refreshPanels();
    }).catch(function (err) {
      var problem = apiProblem(err);
      if (!panel.open) {  // closed meanwhile (the ticket was finished elsewhere): say it there
        loginLink(show(el("messages"), "error", problem[0], problem[1]), err);
        return;
      }
      var detail = err && err.body && err.body.detail;
      var row = detail && typeof detail.index === "number" ? rows()[detail.index] : null;
      if (row) problem = [rowName(row) + "：" + problem[0], problem[1]];
      loginLink(show(errorBox, null, problem[0], problem[1]), err);
      if (row) markInvalid(row, detail.field);
    }).then(function () {
      saving = false;
      saveButton.disabled = false;
      form.removeAttribute("aria-busy");
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    save();
  });
  el("finish-cancel").addEventListener("click", function () { panel.close(); });
  panel.addEventListener("close", function () {
    clearSearch();
    if (panel.contains(document.activeElement)) document.activeElement.blur();
  });

  panel.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || composing(event)) return;
    var target = event.target;
    if (target === search || event.key === "Escape") return;  // the search box has its keys
    if (typing(target)) {
      if (event.key !== "Enter") return;
      if (target.tagName === "TEXTAREA" && event.shiftKey) return;  // a new line
      event.preventDefault();
      if (target.dataset.field === "missing_extra" && target.value.trim()) {
        addExtra(target.closest(".ct-oc-row"), target.value.trim());
        target.value = "";
        return;
      }
      save();
      return;
    }
    if (event.key === "Enter") {
      if (target.tagName === "BUTTON" || target.tagName === "A") return;  // they act themselves
      event.preventDefault();
      save();
      return;
    }
    if (/^[1-5]$/.test(event.key)) {
      var row = target.closest ? target.closest(".ct-oc-row") : null;
      row = row || currentRow();
      if (row) {
        event.preventDefault();
        chooseOutcome(row, event.key);
      }
      return;
    }
    if (event.key === "a" || event.key === "A" || event.key === "+") {
      event.preventDefault();
      search.focus();
    }
  });

  // ------------------------------------------------------------ after saving: print buttons

  function caseMatterName(c) {
    if (c.matter_name) return c.matter_name;
    if (c.matter && typeof c.matter === "object") return c.matter.name || c.matter.code;
    return c.matter || "";
  }

  function documentUrl(kind, number) {
    var url = data.documents[kind];
    return url ? url.replace(data.number_slot, encodeURIComponent(number)) : null;
  }

  function printButton(kind, number) {
    var url = documentUrl(kind, number);
    if (!url) return null;
    var link = document.createElement("a");
    link.className = "ct-print";
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    link.dataset.document = kind;
    link.dataset.number = number;
    link.textContent = fmt(T.print_doc, { document: T["doc_" + kind] });
    return link;
  }

  function showResult(finished, cases, collected) {
    el("result-number").textContent = finished.number || "";
    var list = el("result-cases");
    list.textContent = "";
    var items = cases.length ? cases : collected.outcomes.map(function (o, i) {
      return { outcome: o.outcome, matter_name: collected.names[i], number: null };
    });
    items.forEach(function (c) {
      var item = document.createElement("li");
      item.className = "ct-result-case ct-result-" + c.outcome;
      var label = document.createElement("strong");
      label.textContent = T["outcome_" + c.outcome] || c.outcome;
      item.appendChild(label);
      var text = [caseMatterName(c)];
      if (c.number) text.push(fmt(T.case_number, { number: c.number }));
      else if (c.outcome === "consultation") text.push(T.no_case);
      if (c.due_date) text.push(fmt(T.due_on, { date: c.due_date }));
      var span = document.createElement("span");
      span.textContent = " " + text.join(" · ") + " ";
      if (c.due_date) span.dataset.due = c.due_date;
      item.appendChild(span);
      var kind = DOCUMENT_OF[c.outcome];
      var link = c.number && kind ? printButton(kind, c.number) : null;
      if (link) item.appendChild(link);
      list.appendChild(item);
    });
    el("finish-result").hidden = false;
    var first = list.querySelector(".ct-print");
    if (first) first.focus();  // Enter prints the first document
  }

  function clearResult() {
    el("finish-result").hidden = true;
    el("result-cases").textContent = "";
    el("result-number").textContent = "";
  }

  // ------------------------------------------------------------ 我的办件 and 本窗口今日

  var caseBox = el("case-messages");

  function refreshPanels() {
    return fetch(root.dataset.urlPanels, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (body) {
      el("my-cases").innerHTML = body.cases;  // rendered and escaped by the server
      el("window-rates").innerHTML = body.rates;
    }).catch(function () {
      show(caseBox, "error", T.refresh_failed, EN.refresh_failed);
    });
  }

  function caseUrl(number, action) {
    return root.dataset.urlApi + "/cases/" + encodeURIComponent(number) + "/" + action;
  }

  function caseAction(number, action, payload) {
    return request("POST", caseUrl(number, action), payload).then(function () {
      show(caseBox, "ok", fmt(T[CASE_MESSAGES[action]], { number: number }));
      if (action === "complete") {
        var link = printButton("completion", number);
        if (link) {
          caseBox.appendChild(link);
          link.focus();
        }
      }
      refreshPanels();
      return true;
    });
  }

  function openCaseDialog(action, number, matter) {
    if (caseDialog.dataset.number !== number || caseDialog.dataset.action !== action) {
      el("case-result").value = "";
      el("case-reason").value = "";
      caseForm.querySelector('input[name="pause-kind"][value="correction"]').checked = true;
    }
    caseDialog.dataset.action = action;
    caseDialog.dataset.number = number;
    el("case-title").textContent = fmt(T[action + "_title"], { number: number });
    el("case-matter").textContent = matter || "";
    Array.prototype.forEach.call(caseDialog.querySelectorAll("[data-case-part]"), function (part) {
      part.hidden = part.dataset.casePart !== action;
    });
    el("case-error").hidden = true;
    caseDialog.showModal();
    (action === "complete" ? el("case-result") : el("case-reason")).focus();
  }

  function submitCase() {
    var action = caseDialog.dataset.action, number = caseDialog.dataset.number;
    var payload = {};
    if (action === "complete") {
      payload.result = el("case-result").value.trim();
    } else {
      payload.kind = caseForm.querySelector('input[name="pause-kind"]:checked').value;
      payload.reason = el("case-reason").value.trim();
      if (!payload.reason) {
        show(el("case-error"), null, T.need_pause_reason, EN.need_pause_reason);
        el("case-reason").focus();
        return;
      }
    }
    var button = el("case-save");
    if (button.disabled) return;
    button.disabled = true;
    caseAction(number, action, payload).then(function () {
      caseDialog.dataset.number = "";  // done: the next opening starts empty
      caseDialog.close();
    }).catch(function (err) {
      var problem = apiProblem(err);
      loginLink(show(el("case-error"), null, problem[0], problem[1]), err);
    }).then(function () {
      button.disabled = false;
    });
  }

  el("my-cases").addEventListener("click", function (event) {
    var button = event.target.closest("[data-case-action]");
    if (!button) return;
    var action = button.dataset.caseAction, number = button.dataset.number;
    if (action !== "resume") {
      openCaseDialog(action, number, button.dataset.matter);
      return;
    }
    button.disabled = true;
    caseAction(number, "resume", {}).catch(function (err) {
      var problem = apiProblem(err);
      loginLink(show(caseBox, "error", problem[0], problem[1]), err);
      button.disabled = false;
    });
  });

  caseForm.addEventListener("submit", function (event) {
    event.preventDefault();
    submitCase();
  });
  caseForm.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey || composing(event)) return;
    if (event.target.tagName === "BUTTON") return;
    event.preventDefault();
    submitCase();
  });
  el("case-cancel").addEventListener("click", function () { caseDialog.close(); });
  caseDialog.addEventListener("close", function () {
    if (caseDialog.contains(document.activeElement)) document.activeElement.blur();
  });

  renderUsual();
  setInterval(refreshPanels, 5 * 60 * 1000);  // due states change with the day; others act too

  window.HallOutcomes = {
    /* counter.js: {ticketUrl(id, action), windowNumber, onFinished(body)} */
    connect: function (given) { hooks = given; },
    open: open,
    /* the ticket has left this window (finished elsewhere, transferred): drop its draft */
    ticketGone: function (id) {
      if (!ticket || (id != null && ticket.id !== id)) return;
      ticket = null;
      rowsBox.textContent = "";
      activeRow = null;
      if (panel.open) panel.close();
    },
    clearResult: clearResult,
    refresh: refreshPanels,
  };
})();
