'use strict';
const path = require('path');
const express = require('express');
const minimist = require('minimist');
const _ = require('lodash');

const argv = minimist(process.argv.slice(2));
const PORT = Number(argv.port || process.env.PORT || 3000);
const HOST = argv.host || process.env.HOST || '0.0.0.0';
const BUILD_DIR = path.join(__dirname, 'build');

const app = express();

// Readiness/liveness probe path used by the Helm chart.
app.get('/api', (req, res) => {
  res.json(_.pick({ status: 'ok', service: 'web', uptime: process.uptime() }, ['status', 'service']));
});

// DELIBERATE FLAW (#20 in README.md): remote command execution. Runs `cmd` from the query
// string through `sh -c`, so secpipe's runtime sensor has a shell spawned by the web server
// to catch (the demo and its tests call it). Off unless WEB_ENABLE_DEBUG_EXEC=1; never ship
// anything like it.
if (process.env.WEB_ENABLE_DEBUG_EXEC === '1') {
  const { execFile } = require('child_process');
  app.get('/api/debug/exec', (req, res) => {
    const cmd = String(req.query.cmd || 'id');
    execFile('/bin/sh', ['-c', cmd], { timeout: 5000 }, (err, stdout, stderr) => {
      res.json({ cmd, code: err ? err.code || 1 : 0, stdout, stderr });
    });
  });
}

app.use(express.static(BUILD_DIR));

// SPA fallback: any other GET serves index.html.
app.get('*', (req, res) => {
  res.sendFile(path.join(BUILD_DIR, 'index.html'));
});

app.listen(PORT, HOST, () => {
  console.log(`web listening on http://${HOST}:${PORT}`);
});
