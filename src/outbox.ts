/**
 * A queue between producers that push and one consumer that reads with for-await: the
 * outgoing half of a two-way stream (the Work session on both of its ends).
 *
 * The consumer is the transport, which pulls only as fast as the peer reads, so the
 * queue is where a peer that stops reading would pile messages up. It is bounded: a
 * producer that can wait watches `length` and `bytes` (each message's weight, as its
 * producer pushed it) and waits for `taken()`; a push past `maxItems` ends the stream
 * with RESOURCE_EXHAUSTED (after what is queued), and later pushes are dropped.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** Options for an Outbox. */
export interface OutboxOptions {
  /** Most messages queued at once; one more ends the stream. Default: 1024. */
  readonly maxItems?: number;
}

/** A queue one consumer reads with for-await; producers push and end it. */
export class Outbox<T> {
  private readonly items: { readonly item: T; readonly bytes: number }[] = [];
  private readonly maxItems: number;
  private queuedBytes = 0;
  private wake: (() => void) | undefined;
  private nextTake: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;
  private closed = false;
  private failure: unknown;

  constructor(options: OutboxOptions = {}) {
    this.maxItems = options.maxItems ?? 1024;
  }

  /** Messages queued and not yet taken by the consumer. */
  get length(): number {
    return this.items.length;
  }

  /** The weights of the messages queued (as pushed; 0 when the producer gave none). */
  get bytes(): number {
    return this.queuedBytes;
  }

  /** Queues `item`; `bytes` is its weight in `bytes` until the consumer takes it. */
  push(item: T, bytes = 0): void {
    if (this.closed) return;
    if (this.items.length >= this.maxItems) {
      this.end(
        new ConnectError(
          `more than ${this.maxItems} messages were waiting for the peer to read them; the stream was ended: reconnect and resume`,
          Code.ResourceExhausted,
        ),
      );
      return;
    }
    this.items.push({ item, bytes });
    this.queuedBytes += bytes;
    this.wake?.();
  }

  /** Resolves when the consumer next takes a message, or once the outbox ended (at once if it has). */
  taken(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.nextTake === undefined) {
      let resolve: () => void = () => undefined;
      const promise = new Promise<void>((settle) => (resolve = settle));
      this.nextTake = { promise, resolve };
    }
    return this.nextTake.promise;
  }

  /** Whether `end` was called (messages may still be queued). */
  get ended(): boolean {
    return this.closed;
  }

  end(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = error;
    this.wake?.();
    this.notifyTaken();
  }

  async *drain(): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length > 0) {
        const { item, bytes } = this.items.shift()!;
        this.queuedBytes -= bytes;
        this.notifyTaken();
        yield item;
        continue;
      }
      if (this.closed) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  private notifyTaken(): void {
    const waiting = this.nextTake;
    this.nextTake = undefined;
    waiting?.resolve();
  }
}
