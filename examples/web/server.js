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

app.use(express.static(BUILD_DIR));

// SPA fallback: any other GET serves index.html.
app.get('*', (req, res) => {
  res.sendFile(path.join(BUILD_DIR, 'index.html'));
});

app.listen(PORT, HOST, () => {
  console.log(`web listening on http://${HOST}:${PORT}`);
});
