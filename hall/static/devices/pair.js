/* The pairing page's digit keypad: touch kiosks have no keyboard. */
(function () {
  "use strict";
  var input = document.getElementById("pair-code");
  var keys = document.getElementById("pair-keys");
  if (!input || !keys) return;
  keys.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-key]");
    if (!button) return;
    var key = button.dataset.key;
    var digits = input.value.replace(/\D/g, "");
    if (key === "clear") digits = "";
    else if (key === "backspace") digits = digits.slice(0, -1);
    else if (digits.length < 8) digits += key;
    input.value = digits.length > 4 ? digits.slice(0, 4) + " " + digits.slice(4) : digits;
    input.focus();
  });
})();
