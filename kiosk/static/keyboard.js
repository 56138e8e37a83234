// The kiosk's on-screen letter keyboard (kiosks have no keyboard): letter keys A–Z, 删除
// (backspace) and 清空 (clear). It keeps the typed letters and reports every change.

/**
 * Wire the keys inside `container` (buttons with data-key="a"…"z", "backspace", "clear").
 * `onChange(value)` gets the lower-case letters after each change; at most `max` letters.
 */
export function letterKeyboard(container, { max = 20, onChange = () => {} } = {}) {
  let value = "";

  function set(next) {
    next = next.slice(0, max);
    if (next === value) return;
    value = next;
    container.dataset.value = value;
    onChange(value);
  }

  container.addEventListener("click", (event) => {
    const key = event.target.closest("button[data-key]");
    if (!key || !container.contains(key)) return;
    const name = key.dataset.key;
    if (name === "backspace") set(value.slice(0, -1));
    else if (name === "clear") set("");
    else if (/^[a-z]$/.test(name)) set(value + name);
  });

  return {
    get value() { return value; },
    clear() { set(""); },
  };
}
