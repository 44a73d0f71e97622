// ESLint flat config: ESLint's and typescript-eslint's recommended rules on our own
// TypeScript. Not type-aware: tsc (`npm run typecheck`) already does the type checking,
// and type-aware linting would make `npm run lint` many times slower.
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig([
  // Generated code, dependencies, local experiments and the embedded Postgres data folder.
  globalIgnores(["gen/", "node_modules/", "scratch/", ".runline/", ".runline-*/", "coverage/", "dist/"]),
  {
    files: ["src/**/*.ts", "test/**/*.ts", "bench/**/*.ts", "console/**/*.ts", "*.config.ts", "*.config.js"],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    rules: {
      // A leading underscore marks a parameter or binding that is unused on purpose
      // (a handler's unused request, a skipped tuple element).
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          destructuredArrayIgnorePattern: "^_",
          caughtErrorsIgnorePattern: "^_",
        },
      ],
    },
  },
]);
