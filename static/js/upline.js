/*
 * Upline: tiny progressive enhancements, no dependencies, loaded with `defer`.
 *  - <form data-confirm="Really?">     asks in an accessible <dialog> before submitting
 *  - [data-nav-toggle]                 the menu button that opens the navigation on phones
 *  - .table-scroll                     focusable (keyboard-scrollable) while it overflows
 *  - <button data-busy="Working…">     disabled + relabelled while its form submits
 *  - .alert-success                    fades out after 6 s (unless [data-persist])
 *  - .alert [data-dismiss]             close button removes its alert
 *  - order forms, ticket replies        see the sections below
 * No page has inline script: the Content-Security-Policy allows scripts from /static/ only.
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
    if (question && form.getAttribute("data-confirmed") !== "true") {
      event.preventDefault();
      askToConfirm(form, event.submitter || null, question);
      return;
    }
    form.removeAttribute("data-confirmed");

    var buttons = busyButtons(form);
    if (buttons.length) {
      form.setAttribute("data-submitting", "true");
      buttons.forEach(setBusy);
    }
  });

  /* Confirmation: one modal <dialog> (built here, so no page carries markup for it) with
     the question as its name and two buttons; Escape or "Cancel" keeps the form unsent,
     the confirming button (labelled like the button that was pressed) sends it with that
     button's name and value. Focus starts on Cancel and returns to the pressed button. */
  var confirmDialog = null;

  function buildConfirmDialog() {
    var dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-question");
    var form = document.createElement("form");
    form.method = "dialog";
    var question = document.createElement("p");
    question.id = "confirm-dialog-question";
    question.className = "confirm-dialog-question";
    var actions = document.createElement("div");
    actions.className = "confirm-dialog-actions";
    var cancel = document.createElement("button");
    cancel.type = "submit";
    cancel.value = "cancel";
    cancel.className = "btn";
    cancel.textContent = "Cancel";
    cancel.setAttribute("data-cancel", "");
    var ok = document.createElement("button");
    ok.type = "submit";
    ok.value = "confirm";
    ok.className = "btn btn-primary";
    ok.setAttribute("data-confirm-ok", "");
    actions.appendChild(cancel);
    actions.appendChild(ok);
    form.appendChild(question);
    form.appendChild(actions);
    dialog.appendChild(form);
    document.body.appendChild(dialog);
    return dialog;
  }

  function askToConfirm(form, submitter, question) {
    if (typeof HTMLDialogElement !== "function") {
      // A browser without <dialog>: the plain question is still better than no question.
      if (window.confirm(question)) sendConfirmed(form, submitter);
      return;
    }
    confirmDialog = confirmDialog || buildConfirmDialog();
    var dialog = confirmDialog;
    var ok = dialog.querySelector("[data-confirm-ok]");
    var label = submitter ? (submitter.textContent || submitter.value || "").trim() : "";
    dialog.querySelector(".confirm-dialog-question").textContent = question;
    ok.textContent = label || "Confirm";
    var danger = submitter && submitter.classList.contains("btn-danger");
    ok.className = "btn " + (danger ? "btn-danger" : "btn-primary");
    dialog.returnValue = "";
    dialog.onclose = function () {
      dialog.onclose = null;
      if (dialog.returnValue === "confirm") {
        sendConfirmed(form, submitter);
      } else if (submitter && document.contains(submitter)) {
        submitter.focus();
      }
    };
    dialog.showModal();
    dialog.querySelector("[data-cancel]").focus();
  }

  function sendConfirmed(form, submitter) {
    form.setAttribute("data-confirmed", "true");
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
    } else {
      form.submit();
    }
    // A submission the browser refused (a required field left empty) asks again next time.
    form.removeAttribute("data-confirmed");
  }

  /* Phones: the sidebar folds away behind a menu button (only where this script runs;
     without it the navigation stays a scrollable row). Escape closes it again. */
  function navToggles() {
    return document.querySelectorAll("[data-nav-toggle]");
  }

  function setNavOpen(button, open) {
    var nav = document.getElementById(button.getAttribute("aria-controls"));
    if (!nav) return;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("is-open", open);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-nav-toggle]");
    if (!button) return;
    setNavOpen(button, button.getAttribute("aria-expanded") !== "true");
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    Array.prototype.forEach.call(navToggles(), function (button) {
      if (button.getAttribute("aria-expanded") !== "true") return;
      setNavOpen(button, false);
      button.focus();
    });
  });

  /* A table wider than its box scrolls inside it; keyboard users reach the scroll with
     Tab (and arrow keys) only while there is something to scroll. */
  function markScrollAreas() {
    Array.prototype.forEach.call(document.querySelectorAll(".table-scroll"), function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        if (!box.hasAttribute("aria-label")) {
          var table = box.querySelector("table");
          var name = table && (table.getAttribute("aria-label") || (table.caption && table.caption.textContent));
          box.setAttribute("aria-label", (name || "Table") + " (scrolls sideways)");
        }
        box.setAttribute("role", "region");
      } else if (box.getAttribute("tabindex") === "0") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
      }
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(markScrollAreas, 100);
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

  /* Order forms: show only the add-ons offered with the chosen plan. Plans come from a
     select[data-plan-select] or radios with data-plan; add-on checkboxes carry
     data-plans="<plan ids>". Without script every add-on is listed and the server checks. */
  function chosenPlan(form) {
    var select = form.querySelector("select[data-plan-select]");
    if (select) return select.value;
    var radio = form.querySelector("input[type=radio][data-plan]:checked");
    return radio ? radio.getAttribute("data-plan") : "";
  }

  function refreshAddons(form) {
    var plan = chosenPlan(form);
    var shown = 0;
    Array.prototype.forEach.call(form.querySelectorAll("input[type=checkbox][data-plans]"), function (box) {
      var plans = (box.getAttribute("data-plans") || "").split(" ");
      var offered = !plan || plans.indexOf(plan) !== -1;
      var row = box.closest("div") || box.parentNode;
      row.hidden = !offered;
      if (!offered) box.checked = false;
      if (offered) shown += 1;
    });
    var none = form.querySelector("[data-no-addons]");
    if (none) none.hidden = shown > 0 || !plan;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.matches || !target.matches("select[data-plan-select], input[type=radio][data-plan]")) return;
    if (target.form) refreshAddons(target.form);
  });

  /* Ticket page: a canned reply picked in #canned-picker is appended to #id_body; the
     "internal note" box relabels the reply form. */
  document.addEventListener("change", function (event) {
    var picker = event.target;
    if (picker.id !== "canned-picker") return;
    var body = document.getElementById("id_body");
    var tpl = document.getElementById("canned-" + picker.value);
    if (!body || !tpl) return;
    var text = tpl.content ? tpl.content.textContent : tpl.textContent;
    body.value = body.value ? body.value.replace(/\s*$/, "") + "\n\n" + text : text;
    body.focus();
    picker.value = "";
  });

  function syncReplyForm() {
    var internal = document.getElementById("id_internal");
    var form = document.getElementById("reply-form");
    var submit = document.getElementById("reply-submit");
    var hint = document.getElementById("reply-hint");
    if (!internal || !form || !submit || !hint) return;
    var on = internal.checked;
    form.classList.toggle("is-internal", on);
    submit.textContent = on ? "Add internal note" : "Send reply";
    // The page says who a reply reaches (the customer, or a reseller's staff upstream).
    hint.textContent = on
      ? "Only staff of this instance see internal notes."
      : hint.getAttribute("data-reply-hint") || hint.textContent;
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "id_internal") syncReplyForm();
  });

  /* <button data-quote="ID">: quote that message's text into the reply (as a reply to the
     customer, not an internal note). */
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-quote]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-quote"));
    var body = document.getElementById("id_body");
    if (!source || !body) return;
    var text = source.querySelector(".hd-msg-body").innerText.trim();
    body.value = (body.value ? body.value.replace(/\s*$/, "") + "\n\n" : "") + text;
    var internal = document.getElementById("id_internal");
    if (internal && internal.checked) { internal.checked = false; syncReplyForm(); }
    body.focus();
  });

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".alert-success:not([data-persist])"), function (alert) {
      window.setTimeout(function () { dismiss(alert); }, 6000);
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-formset-add]"), function (button) {
      button.hidden = false;
    });
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      if (form.querySelector("input[type=checkbox][data-plans]")) refreshAddons(form);
    });
    syncReplyForm();
    if (navToggles().length) document.documentElement.classList.add("has-nav-toggle");
    Array.prototype.forEach.call(navToggles(), function (button) {
      button.hidden = false;
    });
    markScrollAreas();
    // The language switch changes on choosing; its button stays for browsers without JS.
    Array.prototype.forEach.call(document.querySelectorAll("select[data-autosubmit]"), function (select) {
      var submit = select.form && select.form.querySelector("button[type=submit]");
      if (submit) submit.hidden = true;
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
