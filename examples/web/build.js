'use strict';
// Bundles src/index.jsx into build/app.js and copies public/index.html.
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');

const outdir = path.join(__dirname, 'build');
fs.rmSync(outdir, { recursive: true, force: true });
fs.mkdirSync(outdir, { recursive: true });

esbuild
  .build({
    entryPoints: [path.join(__dirname, 'src', 'index.jsx')],
    bundle: true,
    minify: true,
    outfile: path.join(outdir, 'app.js'),
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'info',
  })
  .then(() => {
    fs.copyFileSync(path.join(__dirname, 'public', 'index.html'), path.join(outdir, 'index.html'));
  })
  .catch(() => process.exit(1));
