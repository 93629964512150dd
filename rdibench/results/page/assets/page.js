// rdibench page behaviour: sortable tables, row and column filters, chart choice, hover details.
// Plain DOM, no library and no network: the page must work from a file opened offline.
(function () {
  "use strict";

  function cellValue(row, index) {
    const cell = row.children[index];
    if (!cell) return null;
    const v = cell.getAttribute("data-v");
    if (v === null) return cell.textContent.trim().toLowerCase();
    return v === "" ? null : Number(v);
  }

  function sortBy(table, th) {
    const headers = Array.from(th.parentElement.children);
    const index = headers.indexOf(th);
    const current = th.getAttribute("aria-sort");
    const first = th.getAttribute("data-first") || "ascending";
    const order = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
    headers.forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", order);
    const sign = order === "ascending" ? 1 : -1;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const va = cellValue(a, index), vb = cellValue(b, index);
      if (va === null || vb === null) return va === null ? (vb === null ? 0 : 1) : -1; // no value: last
      return va < vb ? -sign : va > vb ? sign : 0;
    });
    rows.forEach((r) => body.appendChild(r));
  }

  function applyRowFilters(table) {
    const query = document.querySelector('input[data-filter="' + table.id + '"]');
    const text = query ? query.value.trim().toLowerCase() : "";
    const hides = Array.from(document.querySelectorAll('input[data-hide-table="' + table.id + '"]'))
      .filter((box) => box.checked)
      .map((box) => box.getAttribute("data-hide"));
    let shown = 0;
    Array.from(table.tBodies[0].rows).forEach((row) => {
      const search = (row.getAttribute("data-search") || row.textContent).toLowerCase();
      const hidden = (text && !search.includes(text)) || hides.some((c) => row.classList.contains(c));
      row.hidden = hidden;
      if (!hidden) shown += 1;
    });
    const count = document.querySelector('[data-count="' + table.id + '"]');
    if (count) count.textContent = shown + " of " + table.tBodies[0].rows.length + " rows shown";
  }

  function applyColumnFilter(input) {
    const table = document.getElementById(input.getAttribute("data-columns"));
    const text = input.value.trim().toLowerCase();
    table.querySelectorAll("[data-col]").forEach((cell) => {
      cell.hidden = text !== "" && !cell.getAttribute("data-col").toLowerCase().includes(text);
    });
  }

  function choose(select) {
    const group = select.getAttribute("data-choose");
    document.querySelectorAll('[data-choice-group="' + group + '"]').forEach((el) => {
      el.hidden = el.getAttribute("data-choice") !== select.value;
    });
  }

  function tooltips() {
    const tip = document.createElement("div");
    tip.className = "tip";
    tip.hidden = true;
    document.body.appendChild(tip);
    function show(target, x, y) {
      tip.textContent = target.getAttribute("data-tip");
      tip.hidden = false;
      const room = window.innerWidth - tip.offsetWidth - 12;
      tip.style.left = Math.max(4, Math.min(x + 14, room)) + window.scrollX + "px";
      tip.style.top = y + 16 + window.scrollY + "px";
    }
    document.addEventListener("mouseover", (e) => {
      const target = e.target.closest && e.target.closest("[data-tip]");
      if (target) show(target, e.clientX, e.clientY);
      else tip.hidden = true;
    });
    document.addEventListener("focusin", (e) => {
      const target = e.target.closest && e.target.closest("[data-tip]");
      if (!target) return;
      const box = target.getBoundingClientRect();
      show(target, box.left, box.bottom);
    });
    document.addEventListener("focusout", () => { tip.hidden = true; });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table.sortable").forEach((table) => {
      table.querySelectorAll("thead th[data-sortable]").forEach((th) => {
        th.tabIndex = 0;
        th.addEventListener("click", () => sortBy(table, th));
        th.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
        });
      });
      applyRowFilters(table);
    });
    document.querySelectorAll("input[data-filter]").forEach((input) => {
      input.addEventListener("input", () => applyRowFilters(document.getElementById(input.getAttribute("data-filter"))));
    });
    document.querySelectorAll("input[data-hide-table]").forEach((box) => {
      box.addEventListener("change", () => applyRowFilters(document.getElementById(box.getAttribute("data-hide-table"))));
    });
    document.querySelectorAll("input[data-columns]").forEach((input) => {
      input.addEventListener("input", () => applyColumnFilter(input));
    });
    document.querySelectorAll("select[data-choose]").forEach((select) => {
      select.addEventListener("change", () => choose(select));
      choose(select);
    });
    tooltips();
  });
})();
