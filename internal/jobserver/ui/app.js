// The job list reloads its figures every three seconds (not while the
// start form is being filled in).
(function () {
  const jobs = document.getElementById("jobs");
  if (!jobs) return;
  setInterval(async () => {
    if (document.activeElement && document.activeElement.closest("form")) return;
    try {
      const r = await fetch("/", { cache: "no-store", credentials: "same-origin" });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      for (const sel of ["#jobs", "#counts"]) {
        const now = document.querySelector(sel), next = doc.querySelector(sel);
        if (now && next) now.replaceWith(next);
      }
    } catch (e) { /* the server restarts: try again */ }
  }, 3000);
})();

// Reloads a job's live fragment every second while the job is pending or
// running (one more time once it ends, to show the final figures).
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  async function tick() {
    const state = live.querySelector("#figures")?.dataset.state;
    try {
      const r = await fetch(live.dataset.src, { cache: "no-store", credentials: "same-origin" });
      if (r.ok) {
        live.innerHTML = await r.text();
        const log = live.querySelector("#log");
        if (log) log.scrollTop = log.scrollHeight;
      }
    } catch (e) { /* the server restarts: try again */ }
    const now = live.querySelector("#figures")?.dataset.state;
    if (now !== "finished" || state !== "finished") setTimeout(tick, 1000);
  }
  const log = live.querySelector("#log");
  if (log) log.scrollTop = log.scrollHeight;
  setTimeout(tick, 1000);
})();
