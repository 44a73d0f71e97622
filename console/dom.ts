/**
 * The console's whole rendering layer: elements made by one function, so that every
 * view is plain code over the DOM and nothing reaches `innerHTML` (text is text, never
 * markup, whatever a run's input or an event's data holds).
 */

/** Attributes of an element; `false` and `undefined` leave an attribute out. */
export type Attributes = Record<string, string | number | boolean | undefined>;

/** What may stand as a child: an element, text, or nothing. */
export type Child = Node | string | false | null | undefined;

/** An element `tag` with `attributes` and `children` (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, ...children);
  return element;
}

/** Appends `children` to `parent`, skipping the empty ones. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replaces everything inside `parent` with `children`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** Calls `handler` on the element's `event`; returns the element, for use inside `h(…)`. */
export function on<E extends HTMLElement, T extends keyof HTMLElementEventMap>(
  element: E,
  event: T,
  handler: (event: HTMLElementEventMap[T]) => void,
): E {
  element.addEventListener(event, handler);
  return element;
}

let idCounter = 0;

/** A page-unique id for pairing a label with its control. */
export function uniqueId(prefix: string): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}
