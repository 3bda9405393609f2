/* assay report: client-side pagination, filtering and sorting. No network, no dependencies.
   Everything works without this script too (all rows show, e.g. when printing). */
(function () {
  "use strict";

  function itemsOf(container) {
    var body = container.tBodies && container.tBodies[0];
    var scope = body || container;
    return Array.prototype.filter.call(scope.children, function (el) {
      return el.classList.contains("pg-item");
    });
  }

  function makeButton(text, label) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    return b;
  }

  function paginate(container) {
    var size = parseInt(container.getAttribute("data-page-size"), 10) || 25;
    var all = itemsOf(container);
    if (all.length <= size) return;
    var page = 0;
    var query = "";
    var pager = document.createElement("div");
    pager.className = "pager";
    var prev = makeButton("\u2039 Prev", "previous page");
    var next = makeButton("Next \u203a", "next page");
    var info = document.createElement("span");
    info.className = "pager-info";
    var filter = document.createElement("input");
    filter.type = "search";
    filter.placeholder = "filter\u2026";
    filter.setAttribute("aria-label", "filter rows");
    pager.appendChild(prev);
    pager.appendChild(info);
    pager.appendChild(next);
    pager.appendChild(filter);
    container.parentNode.insertBefore(pager, container.nextSibling);

    function visible() {
      return itemsOf(container).filter(function (el) {
        return !el.classList.contains("pg-filtered");
      });
    }

    function render() {
      var vis = visible();
      var pages = Math.max(1, Math.ceil(vis.length / size));
      if (page >= pages) page = pages - 1;
      itemsOf(container).forEach(function (el) { el.classList.add("pg-hidden"); });
      vis.slice(page * size, (page + 1) * size).forEach(function (el) {
        el.classList.remove("pg-hidden");
      });
      info.textContent = "page " + (page + 1) + " of " + pages + " \u00b7 " + vis.length +
        (query ? " matching" : " rows");
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }

    prev.addEventListener("click", function () { page -= 1; render(); });
    next.addEventListener("click", function () { page += 1; render(); });
    filter.addEventListener("input", function () {
      query = filter.value.trim().toLowerCase();
      itemsOf(container).forEach(function (el) {
        var hit = !query || el.textContent.toLowerCase().indexOf(query) !== -1;
        el.classList.toggle("pg-filtered", !hit);
      });
      page = 0;
      render();
    });
    container.assayRender = render;
    render();
  }

  function cellValue(row, index) {
    var cell = row.cells[index];
    var text = cell ? cell.textContent.trim() : "";
    var num = parseFloat(text.replace(/[,%\u2009]/g, ""));
    return { text: text, num: isNaN(num) ? null : num };
  }

  function sortable(table) {
    var head = table.tHead;
    var body = table.tBodies[0];
    if (!head || !body || !head.rows.length) return;
    Array.prototype.forEach.call(head.rows[0].cells, function (th, index) {
      th.setAttribute("data-sortable", "");
      th.addEventListener("click", function () {
        var dir = th.getAttribute("data-sort") === "asc" ? "desc" : "asc";
        Array.prototype.forEach.call(head.rows[0].cells, function (o) { o.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", dir);
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, index), y = cellValue(b, index);
          var c = (x.num !== null && y.num !== null) ? x.num - y.num : x.text.localeCompare(y.text);
          return dir === "asc" ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
        if (table.assayRender) table.assayRender();
      });
    });
  }

  document.querySelectorAll("table.grid").forEach(sortable);
  document.querySelectorAll("[data-paginate]").forEach(paginate);
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();
