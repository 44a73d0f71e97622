/**
 * About how much memory a Work request holds until the transport has taken its answer,
 * so a session can bound what one executor makes the server keep in bytes as well as in
 * messages (workers/work-session.ts). The answer of a `report` carries the events back as
 * stored, so the request's weight stands for its answer's too.
 *
 * An estimate of memory, not the wire size: a decoded google.protobuf.Value is an object
 * per node, so `{"k0":0,…}` with 10,000 fields holds several times its 200 KB of
 * protobuf (weighed 670 KiB here). Re-encoding to measure (toBinary) would also cost
 * more on every message; measured per message, this walk against toBinary: an outcome
 * 0.1 µs / 7.8 µs, a 1 MiB string 0.4 µs / 2.9 ms, 10,000 fields 2.6 ms / 9.5 ms.
 */
import type { Value } from "@bufbuild/protobuf/wkt";
import type { WorkRequest } from "../../gen/runline/v1/worker_service_pb.js";

/** What one decoded message or Value node holds besides its strings, about. */
const nodeBytes = 64;

/** Bytes a decoded Value holds, about: a node each, plus its strings and keys by length. */
export function valueWeight(root: Value | undefined): number {
  let bytes = 0;
  const stack = root === undefined ? [] : [root];
  for (let value = stack.pop(); value !== undefined; value = stack.pop()) {
    bytes += nodeBytes;
    const kind = value.kind;
    if (kind.case === "stringValue") {
      bytes += kind.value.length;
    } else if (kind.case === "structValue") {
      for (const key in kind.value.fields) {
        bytes += key.length;
        stack.push(kind.value.fields[key]!);
      }
    } else if (kind.case === "listValue") {
      for (const item of kind.value.values) stack.push(item);
    }
  }
  return bytes;
}

/** Bytes a Work request holds, about. */
export function workRequestWeight(request: WorkRequest): number {
  const kind = request.kind;
  switch (kind.case) {
    case "complete":
      return nodeBytes + kind.value.runId.length + kind.value.leaseId.length + valueWeight(kind.value.output);
    case "fail":
      return (
        nodeBytes +
        kind.value.runId.length +
        kind.value.leaseId.length +
        (kind.value.error?.message.length ?? 0) +
        (kind.value.error?.code.length ?? 0)
      );
    case "report": {
      let bytes = nodeBytes + kind.value.runId.length + kind.value.leaseId.length;
      for (const event of kind.value.events) bytes += nodeBytes + event.type.length + event.eventId.length + valueWeight(event.data);
      return bytes;
    }
    default:
      return nodeBytes;
  }
}
