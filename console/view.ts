/** What every page of the console is: a heading, its content, and how to stop it. */
import type { Clients } from "./session.js";

/** One page, as the router shows it. */
export interface View {
  /** The document title, and the text of the page's `<h1>`. */
  readonly title: string;
  /** The page's content, heading first. */
  readonly element: HTMLElement;
  /** Stops what the page started (streams, timers); called when the person leaves it. */
  dispose(): void;
}

/** What a page may use: the API and the router. */
export interface ViewContext {
  readonly clients: Clients;
  /** Shows the page at `hash` (e.g. `#/runs/…`). */
  navigate(hash: string): void;
  /** Shows a failed call's message; signs out when the credential was refused. */
  report(error: unknown): void;
}

/** A page whose `<h1>` is `title`, focusable so the router can move focus to it. */
export function pageHeading(title: string): HTMLHeadingElement {
  const heading = document.createElement("h1");
  heading.textContent = title;
  heading.tabIndex = -1;
  return heading;
}
