import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The build goes into the Python package, so serving the studio needs no Node.js.
export default defineConfig({
  base: '/studio/',
  plugins: [react()],
  resolve: {
    alias: {
      // the studio talks to the server through the project's own TypeScript SDK
      'canvasflow-sdk': fileURLToPath(new URL('../clients/typescript/index.js', import.meta.url)),
    },
  },
  build: {
    outDir: fileURLToPath(new URL('../canvasflow/web/studio', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 2000,
  },
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
  },
});
