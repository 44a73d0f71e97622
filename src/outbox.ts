/**
 * A queue between producers that push and one consumer that reads with for-await: the
 * outgoing half of a two-way stream (the Work session on both of its ends).
 *
 * The consumer is the transport, which pulls only as fast as the peer reads, so the
 * queue is where a peer that stops reading would pile messages up. It is bounded: a
 * producer that can wait asks `room()` first; a push past `maxItems` ends the stream
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
  private readonly items: T[] = [];
  private readonly maxItems: number;
  private wake: (() => void) | undefined;
  private readonly roomWaiters: { readonly below: number; readonly resolve: () => void }[] = [];
  private ended = false;
  private failure: unknown;

  constructor(options: OutboxOptions = {}) {
    this.maxItems = options.maxItems ?? 1024;
  }

  /** Messages queued and not yet taken by the consumer. */
  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.ended) return;
    if (this.items.length >= this.maxItems) {
      this.end(new ConnectError(`more than ${this.maxItems} messages were waiting for the peer to read them; the stream was ended: reconnect and resume`, Code.ResourceExhausted));
      return;
    }
    this.items.push(item);
    this.wake?.();
  }

  /** Resolves once fewer than `below` messages are queued (at once if so now), or the outbox ended. */
  room(below: number): Promise<void> {
    if (this.items.length < below || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push({ below, resolve }));
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.wake?.();
    this.releaseRoomWaiters();
  }

  async *drain(): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length > 0) {
        const item = this.items.shift()!;
        this.releaseRoomWaiters();
        yield item;
        continue;
      }
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  private releaseRoomWaiters(): void {
    for (let index = this.roomWaiters.length - 1; index >= 0; index--) {
      const waiter = this.roomWaiters[index]!;
      if (this.ended || this.items.length < waiter.below) {
        this.roomWaiters.splice(index, 1);
        waiter.resolve();
      }
    }
  }
}
