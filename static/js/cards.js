/*
 * Card payments in the customer portal (templates/cards/pay.html and result.html).
 *
 *  <form data-card-pay data-publishable-key data-stripe-account data-setup-secret>
 *      Stripe.js collects the card (a SetupIntent on the instance's own Stripe account),
 *      this server charges the PaymentMethod it made on the invoice's PaymentIntent, and
 *      when the bank asks for 3-D Secure (`requires_action`) Stripe.js shows the challenge.
 *      Whatever happens, the browser ends on the result page, which asks Stripe itself.
 *  <div data-card-status data-status-url data-final="0">
 *      polls the payment's state while Stripe is still working, then reloads.
 *
 * Values come from data- attributes: the Content-Security-Policy allows no inline script.
 */
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setUpPayForm(form) {
    if (typeof window.Stripe !== "function") {
      var box = form.querySelector("[data-card-error]");
      box.textContent = "The card form could not be loaded. Check your connection and reload the page.";
      box.hidden = false;
      return;
    }
    var account = form.getAttribute("data-stripe-account");
    var stripe = account
      ? window.Stripe(form.getAttribute("data-publishable-key"), { stripeAccount: account })
      : window.Stripe(form.getAttribute("data-publishable-key"));
    var card = stripe.elements().create("card");
    card.mount(form.querySelector("[data-card-element]"));
    var errorBox = form.querySelector("[data-card-error]");
    var button = form.querySelector("[data-card-submit]");
    var label = button.textContent;

    function savedCard() {
      var checked = form.querySelector("input[name=saved_card]:checked");
      return checked ? checked.value : "";
    }

    function showNewCardFields() {
      var show = !savedCard();
      form.querySelectorAll("[data-card-new]").forEach(function (el) { el.hidden = !show; });
    }

    function fail(message) {
      errorBox.textContent = message || "The payment could not be made.";
      errorBox.hidden = false;
      button.disabled = false;
      button.textContent = label;
    }

    form.addEventListener("change", showNewCardFields);
    showNewCardFields();

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      errorBox.hidden = true;
      button.disabled = true;
      button.textContent = "Paying…";
      try {
        var paymentMethod = savedCard();
        if (!paymentMethod) {
          var setup = await stripe.confirmCardSetup(form.getAttribute("data-setup-secret"), {
            payment_method: { card: card },
          });
          if (setup.error) {
            fail(setup.error.message || "The card was not accepted.");
            return;
          }
          paymentMethod = setup.setupIntent.payment_method;
          if (paymentMethod && typeof paymentMethod === "object") {
            paymentMethod = paymentMethod.id;
          }
        }
        var body = new FormData(form);
        body.set("payment_method", paymentMethod);
        var response = await fetch(form.action, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(form), Accept: "application/json" },
        });
        var answer = await response.json().catch(function () {
          return { status: "error", message: "The server did not answer; nothing was charged twice. Reload the page." };
        });
        if (answer.status === "error") {
          fail(answer.message);
          return;
        }
        if (answer.status === "requires_action" && answer.client_secret) {
          button.textContent = "Waiting for your bank…";
          // Stripe.js shows the bank's 3-D Secure step; the result page reads the outcome.
          if (typeof stripe.handleNextAction === "function") {
            await stripe.handleNextAction({ clientSecret: answer.client_secret });
          } else {
            await stripe.confirmCardPayment(answer.client_secret);
          }
        }
        window.location.assign(answer.result_url);
      } catch (error) {
        fail((error && error.message) || "The payment could not be made.");
      }
    });
  }

  function pollStatus(box) {
    if (box.getAttribute("data-final") === "1") return;
    var url = box.getAttribute("data-status-url");
    var tries = 0;
    var timer = window.setInterval(async function () {
      tries += 1;
      try {
        var response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        var state = await response.json();
        if (state.final) {
          window.clearInterval(timer);
          window.location.reload();
        }
      } catch (error) {
        /* keep trying: the next poll may reach the server */
      }
      if (tries >= 60) window.clearInterval(timer);
    }, 2000);
  }

  document.querySelectorAll("form[data-card-pay]").forEach(setUpPayForm);
  document.querySelectorAll("[data-card-status]").forEach(pollStatus);
})();
