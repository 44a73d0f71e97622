#!/usr/bin/env node
// The `runline` command. npm puts node_modules/.bin (with the project's Node 24) first on
// PATH for `npx runline` and npm scripts; tsx lets that Node load the TypeScript CLI.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
