/**
 * Sign in: an API key or an access token (AuthService.CreateAccessToken), checked with
 * one ListRuns call before it is kept. Only a refusal of the credential itself
 * (UNAUTHENTICATED) keeps the person out; a narrower one (e.g. a token that may not
 * list) still signs in, with the API's message shown.
 */
import { Code } from "@connectrpc/connect";
import { h, on, uniqueId } from "./dom.js";
import { showError } from "./notices.js";
import { clientsFor, keepCredential } from "./session.js";
import { pageHeading, type View } from "./view.js";

/** The sign-in page; `signedIn` is called once a credential is kept. */
export function signInView(signedIn: () => void): View {
  const inputId = uniqueId("credential");
  const hintId = `${inputId}-hint`;
  const input = h("input", {
    id: inputId,
    type: "password",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": hintId,
  });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "sign-in", "aria-label": "Sign in" },
    h("div", { class: "field" }, h("label", { for: inputId }, "API key or access token"), input),
    h(
      "p",
      { class: "hint", id: hintId },
      "Kept in this tab's session storage only (gone when the tab closes) and sent to this server as a bearer token. " +
        "Prefer a short-lived access token to an API key.",
    ),
    h("div", { class: "buttons" }, submit),
  );
  on(form, "submit", (event) => {
    event.preventDefault();
    const credential = input.value.trim();
    submit.disabled = true;
    void clientsFor(credential)
      .runs.listRuns({ pageSize: 1 })
      .then(
        () => true,
        (error: unknown) => showError(error) !== Code.Unauthenticated,
      )
      .then((accepted) => {
        submit.disabled = false;
        if (!accepted) return;
        keepCredential(credential);
        signedIn();
      });
  });
  return { title: "Sign in", element: h("section", {}, pageHeading("Sign in to the Runline console"), form), dispose: () => {} };
}
