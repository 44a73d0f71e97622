/**
 * The import graph of src/, checked in CI (`npm run depcheck`): no cycles between files
 * or folders, and the layers of STYLE.md ("Layers that don't leak"). Every rule is an
 * error, so a violation fails the build; each says why it exists.
 */

/** Folders that hold the rules and their SQL: no transport, no service implementations. */
const domain = "^src/(runs|events|workers|workflows|auth|tenants|webhooks)/";
/** Everything in src/ that is not the transport-agnostic HTTP layer itself. */
const notHttp = "^src/(api|runs|events|workers|workflows|auth|tenants|webhooks|health|db|demo|sdk|cli|console)/";

module.exports = {
  forbidden: [
    {
      name: "no-file-cycle",
      severity: "error",
      comment: "A file cycle means neither file can be read, tested or moved without the other.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-folder-cycle",
      severity: "error",
      comment: "Folders are layers and concerns; arrows between two of them go one way only.",
      scope: "folder",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "http-knows-no-domain",
      severity: "error",
      comment: "src/http/ would serve any annotated service: it imports no domain folder and no service implementation.",
      from: { path: "^src/http/" },
      to: { path: notHttp },
    },
    {
      name: "domain-knows-no-transport",
      severity: "error",
      comment: "Domain folders hold rules and SQL; only src/api/ translates them to and from the API.",
      from: { path: domain },
      to: { path: "^src/(api|http)/" },
    },
    {
      name: "domain-speaks-no-proto",
      severity: "error",
      comment: "Domain folders work in their own types; proto messages (gen/) are translated in src/api/ only.",
      from: { path: domain },
      to: { path: "^gen/" },
    },
    {
      name: "transcoder-knows-no-app",
      severity: "error",
      comment: "The REST transcoder is a library with its own tests (STYLE 9): it imports nothing of src/ outside its own folder, so src/http/ and it never import each other both ways.",
      from: { path: "^src/http/transcoding/" },
      to: { path: "^src/", pathNot: "^src/http/transcoding/" },
    },
    {
      name: "transcoder-through-its-entry",
      severity: "error",
      comment: "Outside its folder (the listener's adapters included), the transcoder is reached through its public entry (index.ts) only; the rest may change freely.",
      from: { path: "^src/", pathNot: "^src/http/transcoding/" },
      to: { path: "^src/http/transcoding/", pathNot: "^src/http/transcoding/index[.]ts$" },
    },
    {
      name: "no-orphans",
      severity: "error",
      comment: "A module nothing imports is dead code (STYLE 10), unless it is an entry point.",
      from: { orphan: true, pathNot: "^src/(main|cli/main|db/migrate-command|openapi/protoc-gen-openapi)[.]ts$" },
      to: {},
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "Every import resolves (a `.js` suffix to its `.ts` file through tsconfig), or the graph is incomplete.",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // gen/ is generated: in the graph as leaves (so rules can name it), never cruised itself.
    doNotFollow: { path: ["node_modules", "^gen/"] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    // Subpath exports (`@bufbuild/protobuf/wkt`) resolve as Node resolves them for ESM.
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "node", "default"] },
  },
};
