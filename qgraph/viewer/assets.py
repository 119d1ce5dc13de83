"""The page's inline style sheet and script (no network resources: the page works offline).

The script reads the node details (JSON in `#qgraph-data`, keyed by SVG node id) and fills the
`#details` panel: hovering an op shows it, a click pins it (the background or Escape unpins),
and `page.html#NAME` opens with the op of that name (or node id) pinned. It builds the panel
with `textContent` only, so no model name is ever read as HTML.
"""

CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, Helvetica, Arial, sans-serif; color: #1d2733; display: flex;
       flex-direction: column; height: 100vh; }
header { padding: 8px 14px; border-bottom: 1px solid #d5dbe3; background: #f4f6f9; }
header h1 { font-size: 17px; margin: 0 0 2px 0; }
header p { margin: 1px 0; color: #44515f; }
.legend span { display: inline-block; padding: 0 6px; margin-right: 6px; border: 1px solid; border-radius: 3px; }
main { flex: 1; display: flex; min-height: 0; }
#graph { flex: 1; overflow: auto; padding: 10px; }
#graph svg { max-width: 100%; height: auto; }
#graph g.node { cursor: pointer; }
#graph g.node:hover path, #graph g.node:hover polygon { stroke-width: 2.5; }
#graph g.node.selected path, #graph g.node.selected polygon { stroke: #1565c0; stroke-width: 3; }
#details { width: 380px; overflow: auto; padding: 10px 12px; border-left: 1px solid #d5dbe3; background: #fbfcfd; }
#details h2 { font-size: 15px; margin: 0; }
#details h3 { font-size: 12px; margin: 10px 0 3px; text-transform: uppercase; color: #5f6b7a; }
#details table { border-collapse: collapse; width: 100%; font-size: 12px; }
#details td { border-top: 1px solid #e3e8ee; padding: 2px 8px 2px 0; vertical-align: top; overflow-wrap: anywhere; }
#details td:first-child { white-space: nowrap; width: 1%; color: #5f6b7a; }
#details .tensor { border-top: 1px solid #e3e8ee; padding: 3px 0; font-size: 12px; overflow-wrap: anywhere; }
#details .tensor b { color: #37474f; margin-right: 6px; }
#details .tensor div { padding-left: 10px; color: #44515f; }
#details .const, #details .const b { color: #6d4c41; }
#details .hint { color: #6b7785; }
"""

JS = """
(function () {
  var data = JSON.parse(document.getElementById("qgraph-data").textContent);
  var panel = document.getElementById("details"), hint = panel.innerHTML, pinned = null;
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function table(rows) {
    var t = el("table");
    rows.forEach(function (cells) {
      var tr = el("tr");
      cells.forEach(function (v) { tr.appendChild(el("td", v)); });
      t.appendChild(tr);
    });
    return t;
  }
  function tensors(title, list) {
    if (!list.length) return;
    panel.appendChild(el("h3", title));
    list.forEach(function (t) {
      var box = el("div", null, "tensor" + (t.const ? " const" : ""));
      box.appendChild(el("b", t.role));
      box.appendChild(document.createTextNode(t.name));
      box.appendChild(el("div", t.shape + " " + t.dtype + (t.const ? " constant" : "")));
      box.appendChild(el("div", t.quant || "not quantized"));
      if (t.values) box.appendChild(el("div", t.values));
      panel.appendChild(box);
    });
  }
  function show(id) {
    var d = data[id];
    if (!d) return;
    panel.innerHTML = "";
    panel.appendChild(el("h2", d.kind === "op" ? d.type : d.kind));
    panel.appendChild(el("div", d.name));
    var attrs = Object.keys(d.attrs);
    if (attrs.length) {
      panel.appendChild(el("h3", "attributes"));
      panel.appendChild(table(attrs.map(function (k) { return [k, d.attrs[k]]; })));
    }
    tensors("inputs (constants in brown)", d.inputs);
    tensors("outputs", d.outputs);
    if (d.errors) {
      panel.appendChild(el("h3", "error vs reference (" + d.errors.key + ")"));
      panel.appendChild(table(Object.keys(d.errors).filter(function (k) { return k !== "key"; })
        .map(function (k) { return [k, String(d.errors[k])]; })));
    }
  }
  function select(id) {
    document.querySelectorAll("#graph g.node.selected").forEach(function (g) { g.classList.remove("selected"); });
    pinned = id;
    if (id === null) { panel.innerHTML = hint; return; }
    document.getElementById(id).classList.add("selected");
    show(id);
  }
  document.querySelectorAll("#graph g.node").forEach(function (g) {
    g.addEventListener("mouseenter", function () { if (pinned === null) show(g.id); });
    g.addEventListener("mouseleave", function () { if (pinned === null) panel.innerHTML = hint; });
    g.addEventListener("click", function (e) { select(g.id); e.stopPropagation(); });
  });
  document.getElementById("graph").addEventListener("click", function () { select(null); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") select(null); });
  var wanted = decodeURIComponent(location.hash.slice(1));
  var id = data[wanted] ? wanted : Object.keys(data).find(function (k) { return data[k].name === wanted; });
  if (id && document.getElementById(id)) select(id);
})();
"""
