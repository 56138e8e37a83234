/* Management pages (管理): small enhancements; every form also works without this script.
 *
 * - the notice box counts characters against its limit;
 * - forms with data-confirm ask before they are sent (delete, retire);
 * - the FAQ editor of a matter gets a button that adds an empty question/answer pair;
 * - the queue list of a window gets up/down buttons that move a row and renumber the order.
 */
(function () {
  "use strict";

  function noticeCounter() {
    var box = document.getElementById("notice"), out = document.getElementById("notice-count");
    if (!box || !out) return;
    var max = parseInt(box.dataset.max, 10), template = box.dataset.countTemplate || "{count} / {max}";
    function update() {
      var count = Array.from(box.value.trim()).length;
      out.textContent = template.replace("{count}", count).replace("{max}", max);
      out.classList.toggle("mg-over", count > max);
    }
    box.addEventListener("input", update);
    update();
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  function faqEditor() {
    var list = document.getElementById("faq-list"), button = document.getElementById("faq-add");
    if (!list || !button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var rows = list.querySelectorAll(".mg-faq-row");
      var last = rows[rows.length - 1];
      var copy = last.cloneNode(true);
      var index = rows.length;
      copy.querySelectorAll("input, textarea").forEach(function (field) {
        field.value = "";
        field.removeAttribute("aria-invalid");
        field.id = field.id.replace(/-\d+$/, "-" + index);
      });
      copy.querySelectorAll("label").forEach(function (label) {
        label.htmlFor = label.htmlFor.replace(/-\d+$/, "-" + index);
      });
      copy.querySelectorAll(".mg-faq-number").forEach(function (n) { n.textContent = index + 1; });
      list.appendChild(copy);
      copy.querySelector("input").focus();
    });
  }

  function windowQueueOrder() {
    var table = document.getElementById("window-queues");
    if (!table) return;
    var body = table.tBodies[0];
    function queueRows() {
      return Array.prototype.filter.call(body.rows, function (row) {
        return row.querySelector("input[type=checkbox]");
      });
    }
    function renumber() {
      var position = 1;
      queueRows().forEach(function (row) {
        var serve = row.querySelector("input[type=checkbox]"), order = row.querySelector("input.mg-order");
        if (serve.checked) {
          order.value = position;
          position += 1;
        } else {
          order.value = "";
        }
      });
    }
    function sort() {  // served queues first, in their order; the rest after, as listed
      var rows = queueRows();
      rows.forEach(function (row, i) { row.dataset.index = i; });
      rows.sort(function (a, b) {
        var oa = parseInt(a.querySelector("input.mg-order").value, 10);
        var ob = parseInt(b.querySelector("input.mg-order").value, 10);
        var ka = a.querySelector("input[type=checkbox]").checked && !isNaN(oa) ? oa : 1e9;
        var kb = b.querySelector("input[type=checkbox]").checked && !isNaN(ob) ? ob : 1e9;
        return ka - kb || a.dataset.index - b.dataset.index;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
    queueRows().forEach(function (row) {
      row.querySelectorAll("button[data-move]").forEach(function (button) {
        button.hidden = false;
        button.addEventListener("click", function () {
          var up = button.dataset.move === "up";
          var other = up ? row.previousElementSibling : row.nextElementSibling;
          if (!other) return;
          body.insertBefore(row, up ? other : other.nextElementSibling);
          renumber();
          button.focus();
        });
      });
      row.querySelector("input[type=checkbox]").addEventListener("change", function () {
        renumber();
      });
    });
    sort();
    renumber();
  }

  noticeCounter();
  confirmations();
  faqEditor();
  windowQueueOrder();
})();
