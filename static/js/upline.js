/*
 * Upline: tiny progressive enhancements, no dependencies, loaded with `defer`.
 *  - <form data-confirm="Really?">     asks confirm() before submitting
 *  - <button data-busy="Working…">     disabled + relabelled while its form submits
 *  - .alert-success                    fades out after 6 s (unless [data-persist])
 *  - .alert [data-dismiss]             close button removes its alert
 */
(function () {
  "use strict";

  var BUSY_CLASS = "is-busy";

  function busyButtons(form) {
    // form.elements also covers buttons outside the form that use form="id".
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.tagName === "BUTTON" && el.hasAttribute("data-busy");
    });
  }

  function setBusy(button) {
    if (button.classList.contains(BUSY_CLASS)) return;
    button.setAttribute("data-busy-label", button.innerHTML);
    button.textContent = button.getAttribute("data-busy") || "Working…";
    button.classList.add(BUSY_CLASS);
    button.setAttribute("aria-busy", "true");
    // Disable on the next tick so the clicked button's name/value is still submitted.
    window.setTimeout(function () { button.disabled = true; }, 0);
  }

  function resetBusy(button) {
    if (!button.classList.contains(BUSY_CLASS)) return;
    button.innerHTML = button.getAttribute("data-busy-label") || button.innerHTML;
    button.removeAttribute("data-busy-label");
    button.removeAttribute("aria-busy");
    button.classList.remove(BUSY_CLASS);
    button.disabled = false;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) return;

    // A second submit while busy (double click, Enter twice) is swallowed.
    if (form.getAttribute("data-submitting") === "true") {
      event.preventDefault();
      return;
    }

    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }

    var buttons = busyButtons(form);
    if (buttons.length) {
      form.setAttribute("data-submitting", "true");
      buttons.forEach(setBusy);
    }
  });

  // Coming back with the browser's back button restores a page from the
  // back/forward cache with the buttons still busy: put them back.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    Array.prototype.forEach.call(document.querySelectorAll("form[data-submitting]"), function (form) {
      form.removeAttribute("data-submitting");
      busyButtons(form).forEach(resetBusy);
    });
  });

  function dismiss(alert) {
    if (!alert || alert.classList.contains("is-leaving")) return;
    alert.classList.add("is-leaving");
    window.setTimeout(function () {
      var box = alert.parentNode;
      alert.remove();
      if (box && box.classList.contains("messages") && !box.children.length) box.remove();
    }, 320);
  }

  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-dismiss]");
    if (close) dismiss(close.closest(".alert"));
  });

  /* <button data-formset-add="PREFIX" data-template="ID" data-rows="SELECTOR">: append a
     copy of a formset's empty row and count it in PREFIX-TOTAL_FORMS. Hidden without JS. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-formset-add]");
    if (!button) return;
    var template = document.getElementById(button.getAttribute("data-template"));
    var total = document.getElementById("id_" + button.getAttribute("data-formset-add") + "-TOTAL_FORMS");
    var rows = document.querySelector(button.getAttribute("data-rows"));
    if (!template || !total || !rows) return;
    var index = parseInt(total.value, 10);
    rows.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__prefix__/g, String(index)));
    total.value = String(index + 1);
    var first = rows.lastElementChild.querySelector("input");
    if (first) first.focus();
  });

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".alert-success:not([data-persist])"), function (alert) {
      window.setTimeout(function () { dismiss(alert); }, 6000);
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-formset-add]"), function (button) {
      button.hidden = false;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
