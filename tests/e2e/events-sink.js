#!/usr/bin/env node
// Receives what Janus' sample event handler posts and appends each event as a
// line of JSON to a file, for the tests to read. Runs until killed.
//   node events-sink.js PORT FILE
'use strict';
const http = require('http');
const fs = require('fs');
const [port, file] = process.argv.slice(2);
http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    try {
      for (const ev of [].concat(JSON.parse(body))) fs.appendFileSync(file, JSON.stringify(ev) + '\n');
    } catch (e) { /* not JSON: ignored */ }
    res.writeHead(200);
    res.end();
  });
}).listen(Number(port), '127.0.0.1');
