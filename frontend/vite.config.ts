import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes into the Python package, which serves it at "/" (madoguchi/web/spa.py).
// `npm run dev` proxies the API to a Madoguchi on :8000 (`make demo`).
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../madoguchi/web/static/app",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8000", ws: true },
    },
  },
});
