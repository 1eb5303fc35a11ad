#!/usr/bin/env node
// A small CLI around Sinch's own Node SDK (@sinch/fax 1.4.0, pinned in package-lock.json), so the tests can drive
// the Fax API simulator with a client nobody on this project wrote (tests/test_node_sdk.py).
//
//   node fax_client.js '<json>'          or          echo '<json>' | node fax_client.js
//
// The JSON object holds the client settings and one operation:
//   {"faxHostname": "http://127.0.0.1:PORT", "authHostname": "http://127.0.0.1:PORT",
//    "projectId": "...", "keyId": "...", "keySecret": "...", "timeoutMs": 10000, "op": OP, ...arguments}
//
//   list            createTimeRange {from, to} (ISO strings, given to the SDK as Date objects, which it truncates
//                   to whole seconds; "rangeAsStrings": true passes them verbatim), optional direction, status,
//                   pageSize, page; paginate: "iterator" (default, `for await`) or "nextPage". Every page is read
//                   with the SDK's own pagination. Result: {faxes: [...], pages: N (nextPage only)}.
//   get             id. Result: the fax.
//   download        id, path: writes the file there. Result: {fileName, size, sha256, path}.
//   send_json       to (string or array), contentUrl, files (default [] : the `files` property is what makes the
//                   SDK send JSON; [{file: base64, fileType}] for content), options {...} merged into the body.
//                   Result: the SDK's array of faxes.
//   send_multipart  to, filePaths, optional contentUrl (a string), options {...}. Result: the array of faxes.
//   token_roundtrip steps: [op objects as above, or {"op": "pause"}], run in order on ONE client (so one OAuth2
//                   token). A pause writes "fax_client: paused <n>" to stderr and waits for a line on stdin (the
//                   JSON must then come as an argument). Result: {steps: [result, ...]}.
//
// stdout gets exactly one JSON object: {"ok": true, "result": ...} or {"ok": false, "error": message, "status":
// http status or null, "body": the error body the SDK read, or null} (tests/node/cli.js). The SDK's own console
// output goes to stderr. Every SDK call is bounded by timeoutMs: the SDK's retry of a multipart send after an
// expired token never completes (its form-data stream was consumed).
'use strict';

const crypto = require('crypto');
const fs = require('fs');

// Before the SDK loads: from here on nothing but the result may reach stdout (cli.js).
const { main, withTimeout } = require('./cli');

const { FaxService } = require('@sinch/fax');

let stdinLines = null;
function nextStdinLine(ms) {
  if (stdinLines === null) {
    stdinLines = { buffered: [], waiting: [], text: '', closed: false };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      stdinLines.text += chunk;
      let newline;
      while ((newline = stdinLines.text.indexOf('\n')) >= 0) {
        const line = stdinLines.text.slice(0, newline);
        stdinLines.text = stdinLines.text.slice(newline + 1);
        const waiter = stdinLines.waiting.shift();
        if (waiter) waiter.resolve(line);
        else stdinLines.buffered.push(line);
      }
    });
    process.stdin.on('end', () => {
      stdinLines.closed = true;
      for (const waiter of stdinLines.waiting.splice(0)) waiter.reject(new Error('stdin closed during a pause'));
    });
  }
  if (stdinLines.buffered.length) return Promise.resolve(stdinLines.buffered.shift());
  if (stdinLines.closed) return Promise.reject(new Error('stdin closed during a pause'));
  const line = new Promise((resolve, reject) => stdinLines.waiting.push({ resolve, reject }));
  return withTimeout(line, ms, 'pause');
}

function toDate(value, name) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new Error(`${name}=${JSON.stringify(value)} is not a date`);
  return date;
}

async function list(faxes, args, timeoutMs) {
  const request = {};
  for (const key of ['direction', 'status', 'pageSize', 'page', 'serviceId', 'to', 'from']) {
    if (args[key] !== undefined) request[key] = args[key];
  }
  if (args.createTimeRange) {
    const { from, to } = args.createTimeRange;
    request.createTimeRange = {};
    if (from !== undefined) request.createTimeRange.from = args.rangeAsStrings ? from : toDate(from, 'from');
    if (to !== undefined) request.createTimeRange.to = args.rangeAsStrings ? to : toDate(to, 'to');
  }
  const collected = [];
  if ((args.paginate || 'iterator') === 'iterator') {
    const iterator = faxes.list(request)[Symbol.asyncIterator]();
    for (;;) {
      const step = await withTimeout(iterator.next(), timeoutMs, 'list (iterator)');
      if (step.done) break;
      collected.push(step.value);
    }
    return { faxes: collected, pages: null };
  }
  if (args.paginate !== 'nextPage') throw new Error(`paginate must be "iterator" or "nextPage", not ${args.paginate}`);
  let page = await withTimeout(faxes.list(request), timeoutMs, 'list page 1');
  let pages = 1;
  collected.push(...page.data);
  while (page.hasNextPage) {
    pages += 1;
    page = await withTimeout(page.nextPage(), timeoutMs, `list page ${pages}`);
    collected.push(...page.data);
  }
  return { faxes: collected, pages };
}

async function download(faxes, args, timeoutMs) {
  if (!args.path) throw new Error('download needs a "path" to write to');
  const file = await withTimeout(faxes.downloadContent({ id: args.id }), timeoutMs, 'download');
  fs.writeFileSync(args.path, file.buffer);
  return {
    fileName: file.fileName,
    size: file.buffer.length,
    sha256: crypto.createHash('sha256').update(file.buffer).digest('hex'),
    path: args.path,
  };
}

async function sendJson(faxes, args, timeoutMs) {
  const body = { ...(args.options || {}), to: args.to, files: args.files || [] };
  if (args.contentUrl !== undefined) body.contentUrl = args.contentUrl;
  return withTimeout(faxes.send({ sendFaxRequestBody: body }), timeoutMs, 'send (JSON)');
}

async function sendMultipart(faxes, args, timeoutMs) {
  const body = { ...(args.options || {}), to: args.to };
  if (args.filePaths !== undefined) body.filePaths = args.filePaths;
  if (args.contentUrl !== undefined) body.contentUrl = args.contentUrl;
  if ('files' in body) throw new Error('send_multipart must not have "files": the SDK would send JSON');
  return withTimeout(faxes.send({ sendFaxRequestBody: body }), timeoutMs, 'send (multipart)');
}

async function runOp(faxes, args, timeoutMs, pauses) {
  switch (args.op) {
    case 'list':
      return list(faxes, args, timeoutMs);
    case 'get':
      return withTimeout(faxes.get({ id: args.id }), timeoutMs, 'get');
    case 'download':
      return download(faxes, args, timeoutMs);
    case 'send_json':
      return sendJson(faxes, args, timeoutMs);
    case 'send_multipart':
      return sendMultipart(faxes, args, timeoutMs);
    case 'pause': {
      pauses.count += 1;
      process.stderr.write(`fax_client: paused ${pauses.count}\n`);
      await nextStdinLine(args.pauseTimeoutMs || timeoutMs);
      return { resumed: pauses.count };
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(args.op)}`);
  }
}

const pauses = { count: 0 };

main({
  sessionOp: 'token_roundtrip',
  makeClient: (input) =>
    new FaxService({
      projectId: input.projectId,
      keyId: input.keyId,
      keySecret: input.keySecret,
      faxHostname: input.faxHostname,
      authHostname: input.authHostname,
    }).faxes,
  runOp: (faxes, args, timeoutMs) => runOp(faxes, args, timeoutMs, pauses),
});
