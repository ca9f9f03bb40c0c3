// The calculator form: add and remove record rows, and send the form as one fact file (JSON).
(function () {
  "use strict";
  var rows = document.getElementById("record-rows");
  var counter = 0;

  function addRecord(kind) {
    var template = document.getElementById("kind-" + kind);
    var row = template.content.firstElementChild.cloneNode(true);
    counter += 1;
    var id = row.querySelector('[name="id"]');
    if (id) { id.value = "r" + counter; }
    row.querySelector(".remove").addEventListener("click", function () { row.remove(); });
    rows.appendChild(row);
    return row;
  }

  function value(input) {
    var text = input.value.trim();
    if (text === "") { return undefined; }
    switch (input.dataset.type) {
      case "bool": return text === "true";
      case "list": return text.split(/[,，、]/).map(function (s) { return s.trim(); }).filter(Boolean);
      case "json": return JSON.parse(text);
      default: return text;
    }
  }

  function collect(container, skipPrefix) {
    var out = {};
    container.querySelectorAll("[data-type]").forEach(function (input) {
      var v = value(input);
      if (v === undefined) { return; }
      var name = skipPrefix ? input.name.replace(skipPrefix, "") : input.name;
      out[name] = v;
    });
    return out;
  }

  document.getElementById("add-record").addEventListener("click", function () {
    addRecord(document.getElementById("new-kind").value);
  });

  document.querySelectorAll(".add-key").forEach(function (button) {
    button.addEventListener("click", function () {
      var template = document.getElementById("map-" + button.dataset.map);
      var row = template.content.firstElementChild.cloneNode(true);
      row.querySelector(".remove").addEventListener("click", function () { row.remove(); });
      button.parentElement.querySelector(".map-rows").appendChild(row);
    });
  });

  document.getElementById("calculator").addEventListener("submit", function () {
    var facts = {enterprise: collect(document.getElementById("profile"), "enterprise."), records: []};
    rows.querySelectorAll(".record").forEach(function (row) {
      var record = collect(row, "");
      record.kind = row.dataset.kind;
      facts.records.push(record);
    });
    document.querySelectorAll("#calculator fieldset.map").forEach(function (map) {
      var values = {};
      map.querySelectorAll(".map-row").forEach(function (row) {
        var key = row.querySelector(".map-key").value.trim();
        if (key) { values[key] = collect(row, ""); }
      });
      if (Object.keys(values).length) { facts[map.dataset.map] = values; }
    });
    document.querySelectorAll("#calculator fieldset.other [data-type]").forEach(function (input) {
      var v = value(input);
      if (v !== undefined) { facts[input.name] = v; }
    });
    document.getElementById("facts").value = JSON.stringify(facts);
  });

  window.incentivesCalculator = {addRecord: addRecord};
})();
