// Live parts of a page: every element with data-refresh="URL" has its content replaced by
// the HTML fragment the server renders at URL (escaped there), every two seconds, while the
// fragment says work may still come (data-active > 0 on its first element: cells queued,
// running or not run yet).
"use strict";
function refresh(el) {
  fetch(el.dataset.refresh, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
    .then((html) => {
      el.innerHTML = html;
      const active = el.querySelector("[data-active]");
      if (active && Number(active.dataset.active) > 0) setTimeout(() => refresh(el), 2000);
    })
    .catch(() => setTimeout(() => refresh(el), 5000));
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach((el) => setTimeout(() => refresh(el), 2000));
});
