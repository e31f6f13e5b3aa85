// ESLint (flat config) for Kizuna's browser scripts: native ES modules, served as they are
// (no bundler, no build step). `make lint-js` runs it; `make lint` includes it.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    // templates/sw.js is a Django template (`{% load static %}`, `{{ config_json|safe }}`),
    // not JavaScript until the server renders it, so ESLint cannot parse it.
    ignores: [
      ".venv/**",
      "staticfiles/**",
      "var/**",
      "**/*.egg-info/**",
      "tests/browser/artifacts/**",
      "bench/results/**",
      "templates/sw.js",
    ],
  },
  js.configs.recommended,
  {
    files: ["**/*.js"],
    rules: {
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "all" }],
      "eqeqeq": ["error", "always"],
      "no-implicit-globals": "error",
      "prefer-const": "error",
      "no-var": "error",
      "no-use-before-define": ["error", { functions: false, classes: true, variables: true }],
      "array-callback-return": "error",
      "no-self-compare": "error",
      "no-template-curly-in-string": "error",
      "no-unmodified-loop-condition": "error",
      "no-promise-executor-return": "error",
    },
  },
  {
    // The page scripts: modules in the browser. ES2019 syntax at most (modules themselves
    // need Safari 11; optional chaining and class fields would shut out older iPads).
    files: ["static/**/*.js", "*/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2019,
      sourceType: "module",
      globals: { ...globals.browser },
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: {
      sourceType: "module",
      globals: { ...globals.node },
    },
  },
];
