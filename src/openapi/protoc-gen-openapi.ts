/**
 * protoc-gen-openapi: a protoc / buf plugin that writes an OpenAPI 3.1 document for the
 * `google.api.http` annotations of the services it is asked to generate (see
 * openapi-plugin.ts for its options). Run by buf as a local plugin through tsx, e.g.
 * `local: ["tsx", "src/openapi/protoc-gen-openapi.ts"]` with `strategy: all`, so that all
 * files arrive in one request and one document comes out.
 *
 * Only the plumbing is here: the request from stdin, the response to stdout, failures
 * to stderr with a non-zero exit, which protoc and buf report with the plugin's name.
 *
 * The plugin reads annotations with the transcoder's own binding reader, so it loads
 * the committed gen/ (google.api and google.rpc) as the server does; `buf generate` with
 * `clean: true` still finds gen/ in place while its plugins run (it replaces the output
 * after they answer), and CI checks the result is unchanged.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, CodeGeneratorResponseSchema } from "@bufbuild/protobuf/wkt";
import { generateOpenApi } from "./openapi-plugin.js";

const pluginName = "protoc-gen-openapi";

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function main(): Promise<void> {
  if (process.argv.length > 2) {
    process.stderr.write(
      `${pluginName} reads a CodeGeneratorRequest on stdin and writes a CodeGeneratorResponse to stdout; it takes no arguments\n`,
    );
    process.exitCode = 1;
    return;
  }
  const request = fromBinary(CodeGeneratorRequestSchema, await readStdin());
  const { response, warnings } = await generateOpenApi(request);
  for (const warning of warnings) process.stderr.write(`${pluginName}: ${warning}\n`);
  process.stdout.write(toBinary(CodeGeneratorResponseSchema, response));
}

main().catch((error: unknown) => {
  process.stderr.write(`${pluginName}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
