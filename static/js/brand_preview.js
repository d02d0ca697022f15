/*
 * Live preview of the instance's brand on the issuer identity screen (staff area).
 * The colour input asks the server for the palette it derives (the same code that
 * writes /brand.css, contrast checks included) and sets it as custom properties on the
 * preview only; a chosen logo file is shown through a data: URL (allowed by the
 * Content-Security-Policy's img-src). Nothing here is needed to save the form.
 */
(function () {
  "use strict";

  var preview = document.querySelector("[data-brand-preview]");
  if (!preview) return;
  var form = preview.closest("form");
  var colour = form && form.querySelector("input[name=brand_color]");
  var logoInput = form && form.querySelector("input[name=logo][type=file]");
  var contrast = preview.querySelector("[data-preview-contrast]");
  var pending = 0;

  function apply(palette) {
    var style = preview.style;
    style.setProperty("--accent", palette.accent);
    style.setProperty("--accent-contrast", palette.on_accent);
    style.setProperty("--accent-hover", palette.accent_hover);
    style.setProperty("--accent-text", palette.accent_text);
    style.setProperty("--accent-soft", palette.accent_soft);
    style.setProperty("--accent-ring", palette.accent_ring);
    if (contrast) {
      // The sentence comes translated from the page, with {a} and {l} to fill in.
      var lang = document.documentElement.lang || "en";
      var ratio = function (value) {
        return value.toLocaleString(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
      };
      contrast.textContent = contrast.getAttribute("data-template")
        .replace("{a}", ratio(palette.contrast_on_accent))
        .replace("{l}", ratio(palette.contrast_of_links));
    }
  }

  function refresh() {
    var value = colour.value;
    if (!/^#[0-9a-fA-F]{6}$/.test(value)) return;
    var ticket = ++pending;
    var url = preview.getAttribute("data-palette-url") + "?color=" + encodeURIComponent(value);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (palette) { if (palette && ticket === pending) apply(palette); })
      .catch(function () { /* the preview only; saving still works */ });
  }

  if (colour) {
    colour.addEventListener("input", refresh);
    colour.addEventListener("change", refresh);
  }

  if (logoInput) {
    logoInput.addEventListener("change", function () {
      var file = logoInput.files && logoInput.files[0];
      var img = preview.querySelector("[data-preview-logo]");
      var mark = preview.querySelector(".brand-mark, .brand-logo:not([data-preview-logo])");
      if (!file || !img || !/^image\/(png|jpeg)$/.test(file.type)) return;
      var reader = new FileReader();
      reader.onload = function () {
        img.src = reader.result;
        img.hidden = false;
        if (mark) mark.hidden = true;
      };
      reader.readAsDataURL(file);
    });
  }
})();
