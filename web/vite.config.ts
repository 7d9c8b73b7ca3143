import { defineConfig } from "vite";

// Preact through the automatic JSX runtime; no framework plugin is needed for a production build.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2022",
    // Hashed file names under assets/: served with a year-long immutable cache (see template.yaml).
    assetsDir: "assets",
    sourcemap: true,
  },
  server: { port: 5173, strictPort: false },
});
