/**
 * gRPC server reflection (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md),
 * so grpcurl, buf curl, Postman and grpcui can call our services without a copy of the
 * protos. Served as grpc.reflection.v1 and as its older twin v1alpha (same messages
 * under another package; older tools ask only for it). One catalog answers both.
 *
 * The catalog is built from the descriptors protoc-gen-es embeds in `gen/` (a GenFile's
 * `.proto`): the files of the served services, every file they import, transitively,
 * and any extra files (error details a client may need to decode). Those embedded
 * descriptors carry no comments: tools show the schema, not its documentation.
 *
 * Reflection is a bidi stream, so it needs HTTP/2 (gRPC or Connect); HTTP/1.1 callers
 * get an error from the transport before reaching this code.
 */
import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** Answers to the reflection protocol's lookups, over a fixed set of files. */
export interface ReflectionCatalog {
  /** Fully-qualified names of the served services, sorted. */
  readonly serviceNames: readonly string[];
  /** The named file (e.g. `runline/v1/run.proto`) and its imports, serialized; undefined when unknown. */
  fileByName(name: string): Uint8Array[] | undefined;
  /**
   * The file that declares `symbol` and its imports. Symbols are what protobuf names:
   * messages, enums and services at any depth, fields, oneofs, extensions, methods, and
   * enum values (scoped beside their enum, as in C++: `runline.v1.RUN_STATUS_QUEUED`).
   */
  fileContainingSymbol(symbol: string): Uint8Array[] | undefined;
  /** The file declaring extension `number` of message `extendee`, and its imports. */
  fileContainingExtension(extendee: string, number: number): Uint8Array[] | undefined;
  /** Known extension numbers of message `extendee`, sorted; undefined when it is no known message. */
  extensionNumbers(extendee: string): number[] | undefined;
}

/** Builds the catalog of `services` plus `extraFiles`, and everything they import. */
export function createReflectionCatalog(services: readonly DescService[], extraFiles: readonly DescFile[] = []): ReflectionCatalog {
  const files = new Map<string, DescFile>(); // by file name, e.g. "google/api/http.proto"
  const collect = (file: DescFile): void => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    file.dependencies.forEach(collect);
  };
  services.forEach((service) => collect(service.file));
  extraFiles.forEach(collect);

  const index = indexSymbols(files.values());
  // Each file is serialized once, here, and shared by every response that carries it.
  const encoded = new Map([...files.values()].map((file) => [file, toBinary(FileDescriptorProtoSchema, file.proto)]));

  // The file first, then its imports breadth-first, each once. Every response carries
  // the whole closure: grpc-go skips files already sent on the same stream, which saves
  // bytes but makes each answer depend on the stream's history; ours stand alone.
  const withImports = (root: DescFile): Uint8Array[] => {
    const order = new Set<DescFile>();
    const queue = [root];
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      if (order.has(file)) continue;
      order.add(file);
      queue.push(...file.dependencies);
    }
    return [...order].map((file) => encoded.get(file)!);
  };
  const answer = (file: DescFile | undefined) => (file === undefined ? undefined : withImports(file));

  return {
    serviceNames: [...new Set(services.map((service) => service.typeName))].sort(),
    fileByName: (name) => answer(files.get(name)),
    fileContainingSymbol: (symbol) => answer(index.symbols.get(symbol)),
    fileContainingExtension: (extendee, number) => answer(index.extensions.get(extendee)?.get(number)),
    extensionNumbers(extendee) {
      const numbers = index.extensions.get(extendee);
      if (numbers !== undefined) return [...numbers.keys()].sort((a, b) => a - b);
      return index.messages.has(extendee) ? [] : undefined;
    },
  };
}

interface SymbolIndex {
  /** Every fully-qualified symbol, to the file declaring it. */
  readonly symbols: Map<string, DescFile>;
  /** Extendee message → extension number → declaring file. */
  readonly extensions: Map<string, Map<number, DescFile>>;
  /** Names of all messages (an extendee without extensions is still a valid question). */
  readonly messages: Set<string>;
}

/**
 * Walks the FileDescriptorProtos themselves rather than protobuf-es's descriptors, which
 * leave out synthesized map-entry messages that the protobuf registries of other
 * languages do name (e.g. `grpc.health.v1.HealthListResponse.StatusesEntry`).
 */
function indexSymbols(files: Iterable<DescFile>): SymbolIndex {
  const index: SymbolIndex = { symbols: new Map(), extensions: new Map(), messages: new Set() };
  for (const file of files) {
    const declare = (name: string) => index.symbols.set(name, file);
    const declareExtensions = (scope: string, extensions: readonly FieldDescriptorProto[]) => {
      for (const extension of extensions) {
        declare(qualify(scope, extension.name));
        // protoc writes extendees fully qualified, with a leading dot.
        const extendee = extension.extendee.replace(/^\./, "");
        const numbers = index.extensions.get(extendee) ?? new Map<number, DescFile>();
        index.extensions.set(extendee, numbers.set(extension.number, file));
      }
    };
    const declareEnums = (scope: string, enums: readonly EnumDescriptorProto[]) => {
      for (const enumType of enums) {
        declare(qualify(scope, enumType.name));
        for (const value of enumType.value) declare(qualify(scope, value.name));
      }
    };
    const declareMessages = (scope: string, messages: readonly DescriptorProto[]) => {
      for (const message of messages) {
        const name = qualify(scope, message.name);
        declare(name);
        index.messages.add(name);
        for (const field of message.field) declare(qualify(name, field.name));
        for (const oneof of message.oneofDecl) declare(qualify(name, oneof.name));
        declareExtensions(name, message.extension);
        declareEnums(name, message.enumType);
        declareMessages(name, message.nestedType);
      }
    };
    const pkg = file.proto.package;
    declareMessages(pkg, file.proto.messageType);
    declareEnums(pkg, file.proto.enumType);
    declareExtensions(pkg, file.proto.extension);
    for (const service of file.proto.service) {
      const name = qualify(pkg, service.name);
      declare(name);
      for (const method of service.method) declare(qualify(name, method.name));
    }
  }
  return index;
}

function qualify(scope: string, name: string): string {
  return scope === "" ? name : `${scope}.${name}`;
}

/** A request of either version: the two share field names and numbers. */
type ReflectionRequest = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;

/** The `message_response` oneof of either version, as an init value. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

function notFound(message: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

function filesOrNotFound(files: Uint8Array[] | undefined, missing: string): ReflectionAnswer {
  return files === undefined ? notFound(missing) : { case: "fileDescriptorResponse", value: { fileDescriptorProto: files } };
}

/** Answers one request. Lookup failures are answers (error_response), not call errors. */
function answer(catalog: ReflectionCatalog, request: ReflectionRequest["messageRequest"]): ReflectionAnswer {
  switch (request.case) {
    case "listServices":
      // The field's content "will not be checked", says the proto.
      return { case: "listServicesResponse", value: { service: catalog.serviceNames.map((name) => ({ name })) } };
    case "fileByFilename":
      return filesOrNotFound(catalog.fileByName(request.value), `file not found: ${request.value}`);
    case "fileContainingSymbol":
      return filesOrNotFound(catalog.fileContainingSymbol(request.value), `symbol not found: ${request.value}`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = request.value;
      return filesOrNotFound(
        catalog.fileContainingExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of ${containingType} not found`,
      );
    }
    case "allExtensionNumbersOfType": {
      const numbers = catalog.extensionNumbers(request.value);
      if (numbers === undefined) return notFound(`message type not found: ${request.value}`);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: numbers } };
    }
    case undefined:
      // An empty request, or a kind added to the protocol after ours: a newer client
      // takes UNIMPLEMENTED as "ask another way", and the stream stays usable.
      return { case: "errorResponse", value: { errorCode: Code.Unimplemented, errorMessage: "unsupported reflection request" } };
  }
}

/**
 * Answers each request of the stream in order. Ends when the client half-closes or the
 * call's signal fires (client gone, shutdown): a tool may hold its stream open between
 * lookups, and a pending read would otherwise outlive shutdown's grace period.
 */
async function* answerEach<Request, Response>(
  requests: AsyncIterable<Request>,
  signal: AbortSignal,
  respond: (request: Request) => Response,
): AsyncIterable<Response> {
  const iterator = requests[Symbol.asyncIterator]();
  let onAbort: () => void = () => {};
  const aborted = new Promise<IteratorResult<Request>>((resolve) => (onAbort = () => resolve({ done: true, value: undefined })));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done === true) return;
      yield respond(next.value);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** A response's fields for `request`: the same in v1 and v1alpha, but for the messages' names. */
function responseFields<Request extends ReflectionRequest>(catalog: ReflectionCatalog, request: Request) {
  return { validHost: request.host, originalRequest: request, messageResponse: answer(catalog, request.messageRequest) };
}

/** grpc.reflection.v1.ServerReflection over `catalog` (built on first use). */
export function reflectionServiceV1(catalog: () => ReflectionCatalog): ServiceImpl<typeof v1.ServerReflection> {
  return {
    serverReflectionInfo: (requests, context) =>
      answerEach(requests, context.signal, (request) => create(v1.ServerReflectionResponseSchema, responseFields(catalog(), request))),
  };
}

/** grpc.reflection.v1alpha.ServerReflection, for tools that predate v1. */
export function reflectionServiceV1alpha(catalog: () => ReflectionCatalog): ServiceImpl<typeof v1alpha.ServerReflection> {
  return {
    serverReflectionInfo: (requests, context) =>
      answerEach(requests, context.signal, (request) => create(v1alpha.ServerReflectionResponseSchema, responseFields(catalog(), request))),
  };
}
