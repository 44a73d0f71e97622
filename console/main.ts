/**
 * The console's entry point: the page shell (navigation, sign-out, notices), and a
 * router over the URL's fragment (`#/runs`, `#/runs/<id>`, `#/start`), so that every
 * page has an address without the server knowing any of them, and no credential is
 * ever part of one.
 */
import { Code } from "@connectrpc/connect";
import "./shell.css";
import "./content.css";
import { clearNotices, showError, showStatus } from "./notices.js";
import { runView } from "./run-view.js";
import { runsView } from "./runs-view.js";
import { clientsFor, forgetCredential, storedCredential } from "./session.js";
import { signInView } from "./sign-in-view.js";
import { startView } from "./start-view.js";
import type { View, ViewContext } from "./view.js";

const main = document.getElementById("main")!;
const navigation = document.getElementById("navigation")!;
const signOutButton = document.getElementById("sign-out") as HTMLButtonElement;
let current: View | undefined;

function show(view: View, moveFocus: boolean): void {
  current?.dispose();
  current = view;
  main.replaceChildren(view.element);
  document.title = `${view.title} · Runline console`;
  if (moveFocus) view.element.querySelector("h1")?.focus();
}

function viewFor(fragment: string, context: ViewContext): View {
  const runMatch = /^#\/runs\/([^/]+)$/.exec(fragment);
  if (runMatch !== null) return runView(context, decodeURIComponent(runMatch[1]!));
  if (fragment === "#/start") return startView(context);
  return runsView(context);
}

function signedOut(moveFocus: boolean): void {
  navigation.hidden = true;
  show(
    signInView(() => {
      clearNotices();
      route(true);
    }),
    moveFocus,
  );
}

function route(moveFocus: boolean): void {
  const credential = storedCredential();
  if (credential === undefined) return signedOut(moveFocus);
  navigation.hidden = false;
  const context: ViewContext = {
    clients: clientsFor(credential),
    navigate: (hash) => {
      if (window.location.hash === hash) route(true);
      else window.location.hash = hash;
    },
    report: (error) => {
      if (showError(error) !== Code.Unauthenticated) return;
      // The credential expired or was revoked: back to sign-in, the API's message kept on screen.
      forgetCredential();
      signedOut(true);
    },
  };
  show(viewFor(window.location.hash, context), moveFocus);
}

// The skip link moves focus without touching the fragment, which the router owns.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
signOutButton.addEventListener("click", () => {
  forgetCredential();
  signedOut(true);
  showStatus("Signed out: the credential is forgotten.");
});
window.addEventListener("hashchange", () => route(true));
route(false);
