// Progressive enhancement for the hub's pages: channel-dependent form fields, the template
// picker with its live preview, and the SMS segment counter. Everything works without it; it
// only hides, disables, counts and previews.
(function () {
  "use strict";

  var GSM7_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXTENDED = "^{}\\[~]|€\f";

  // The same count as the hub's own (crates/domain sms_segments): GSM-7 160 then 153
  // septets per part, UCS-2 70 then 67 code units, never splitting an escape or a pair.
  function smsSegments(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (c) {
      return GSM7_BASIC.indexOf(c) >= 0 || GSM7_EXTENDED.indexOf(c) >= 0;
    });
    var units = chars.map(function (c) {
      if (gsm) return GSM7_EXTENDED.indexOf(c) >= 0 ? 2 : 1;
      return c.length; // UTF-16 code units
    });
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var total = units.reduce(function (a, b) { return a + b; }, 0);
    var parts = 1;
    if (total > single) {
      var used = 0;
      units.forEach(function (u) {
        if (used + u > multi) { parts += 1; used = 0; }
        used += u;
      });
    }
    return { encoding: gsm ? "GSM-7" : "UCS-2", units: total, segments: parts,
             perPart: parts === 1 ? single : multi };
  }

  function selectedChannel(form) {
    var checked = form.querySelector('input[name="channel"]:checked');
    if (checked) return checked.value;
    var hidden = form.querySelector('input[type="hidden"][name="channel"]');
    return hidden ? hidden.value : "";
  }

  // `text` into `el` with the values pasted in, as the hub renders it; a variable without a
  // value shows as [name].
  function fill(el, text, values, patientName) {
    el.textContent = "";
    var placeholder = /\{\{([a-z][a-z0-9_]*)\}\}/g, last = 0, match;
    while ((match = placeholder.exec(text))) {
      el.appendChild(document.createTextNode(text.slice(last, match.index)));
      var name = match[1];
      var value = name === "patient_name" ? patientName : values[name];
      if (value && value.trim()) {
        el.appendChild(document.createTextNode(value));
      } else {
        var slot = document.createElement("mark");
        slot.className = "slot";
        slot.textContent = "[" + name + "]";
        el.appendChild(slot);
      }
      last = placeholder.lastIndex;
    }
    el.appendChild(document.createTextNode(text.slice(last)));
  }

  function renderPreview(set) {
    var values = {};
    set.querySelectorAll("input[data-var]").forEach(function (input) {
      values[input.getAttribute("data-var")] = input.value;
    });
    var patientName = set.getAttribute("data-patient-name") || "";
    set.querySelectorAll("[data-text]").forEach(function (el) {
      fill(el.querySelector("strong") || el, el.getAttribute("data-text"), values, patientName);
    });
  }

  // Only templates approved on WhatsApp for a channel that takes only those; the chosen
  // template's inputs on, the others off (not sent); the free text off while one is chosen.
  function updateTemplate(form) {
    var select = form.querySelector("select[data-template-select]");
    if (!select) return;
    var radio = form.querySelector('input[name="channel"]:checked');
    var approvedOnly = !!(radio && radio.hasAttribute("data-template-only"));
    Array.prototype.forEach.call(select.options, function (option) {
      if (option.value) option.disabled = approvedOnly && !option.hasAttribute("data-whatsapp");
    });
    if (select.selectedIndex >= 0 && select.options[select.selectedIndex].disabled) select.value = "";
    var chosen = select.value;
    form.querySelectorAll("fieldset[data-template]").forEach(function (set) {
      var on = set.getAttribute("data-template") === chosen;
      set.hidden = !on;
      set.disabled = !on;
      if (on) renderPreview(set);
    });
    form.querySelectorAll("[data-free-text]").forEach(function (el) {
      // A field that only some channels show was already hidden or shown for the channel.
      if (chosen) el.hidden = true;
      else if (!el.hasAttribute("data-channel-only")) el.hidden = false;
      el.querySelectorAll("input, textarea").forEach(function (input) {
        input.disabled = !!chosen;
        if (input.tagName === "TEXTAREA") input.required = !chosen;
      });
    });
  }

  function update(form) {
    var channel = selectedChannel(form);
    form.querySelectorAll("[data-channel-only]").forEach(function (el) {
      var on = el.getAttribute("data-channel-only").split(" ").indexOf(channel) >= 0;
      el.hidden = !on;
      el.querySelectorAll("input, textarea, select").forEach(function (input) {
        input.required = on && channel === "email";
      });
    });
    form.querySelectorAll("[data-channel-not]").forEach(function (el) {
      var off = el.getAttribute("data-channel-not").split(" ").indexOf(channel) >= 0;
      el.classList.toggle("is-disabled", off);
      el.querySelectorAll("input, textarea, select").forEach(function (input) {
        input.disabled = off;
      });
    });
    form.querySelectorAll("textarea[data-segments]").forEach(function (area) {
      var out = document.getElementById(area.getAttribute("data-segments"));
      if (!out) return;
      if (channel !== "sms") { out.textContent = ""; return; }
      var s = smsSegments(area.value);
      out.textContent = "SMS: " + s.segments + (s.segments === 1 ? " segment" : " segments") +
        " · " + s.encoding + " · " + s.units + " characters (" + s.perPart + " per segment)";
      out.setAttribute("data-count", String(s.segments));
    });
    updateTemplate(form);
  }

  function init(root) {
    root.querySelectorAll("form[data-compose]").forEach(function (form) {
      if (form.dataset.ready) return;
      form.dataset.ready = "1";
      form.addEventListener("change", function () { update(form); });
      form.addEventListener("input", function () { update(form); });
      update(form);
    });
  }

  // Collapsed filters stay collapsed on narrow screens only.
  function openWide() {
    if (!window.matchMedia("(min-width: 1001px)").matches) return;
    document.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); openWide(); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
  window.hubSmsSegments = smsSegments;
})();
