// The phone guide's live search: as the resident types, the result list is fetched from the
// same page (/guide?q=…, rendered by the server in the page's language) and swapped in.
// Without JavaScript the form submits and the server renders the same list.

const form = document.getElementById("g-search");
if (form && form.dataset.results) {
  const input = form.querySelector("input[name=q]");
  const results = document.getElementById(form.dataset.results);
  const browse = document.getElementById(form.dataset.browse);
  let timer = null;
  let controller = null;
  let shown = input.value.trim();

  const urlFor = (query) => {
    const url = new URL(form.action, window.location.href);
    for (const [key, value] of new FormData(form)) {
      if (value) url.searchParams.set(key, value);
    }
    if (!query) url.searchParams.delete("q");
    return url;
  };

  const showBrowse = () => {
    results.hidden = true;
    results.replaceChildren();
    if (browse) browse.hidden = false;
  };

  const update = async () => {
    const query = input.value.trim();
    if (query === shown) return;
    shown = query;
    const url = urlFor(query);
    window.history.replaceState(null, "", url);
    if (controller) controller.abort();
    if (!query && !url.searchParams.get("department")) {
      showBrowse();
      return;
    }
    controller = new AbortController();
    try {
      const response = await fetch(url, { signal: controller.signal, headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(results.id);
      if (!fresh || shown !== query) return;
      results.replaceChildren(...fresh.childNodes);
      results.hidden = false;
      if (browse) browse.hidden = true;
    } catch (error) {
      if (error.name !== "AbortError") form.dataset.offline = "1"; // the submit button still works
    }
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
}
