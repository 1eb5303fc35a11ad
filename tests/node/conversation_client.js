#!/usr/bin/env node
// A small CLI around Sinch's own Node SDK for the Conversation API (@sinch/conversation 1.4.0, pinned in
// package-lock.json), so the tests can drive the simulator's Conversation API with a client nobody on this project
// wrote (tests/test_node_conversation.py).
//
//   node conversation_client.js '<json>'          or          echo '<json>' | node conversation_client.js
//
// The JSON object holds the client settings and one operation:
//   {"conversationHostname": "http://127.0.0.1:PORT", "authHostname": "http://127.0.0.1:PORT",
//    "conversationRegion": "us", "projectId": "...", "keyId": "...", "keySecret": "...", "timeoutMs": 10000,
//    "op": OP, ...arguments}
//
// `conversationHostname` replaces the SDK's https://{region}.conversation.api.sinch.com, `authHostname` its
// https://auth.sinch.com (the SDK POSTs to {authHostname}/oauth2/token): the names of @sinch/sdk-client's
// SinchClientParameters. The Conversation API is OAuth2-only in this SDK: one token per client, fetched on the
// first call and renewed on a 401 whose WWW-Authenticate says "expired".
//
//   send_text   body: the SendTextMessageRequest body, e.g. {"app_id": ..., "recipient": {"identified_by":
//               {"channel_identities": [{"channel": "SMS", "identity": "+1..."}]}} or {"contact_id": ...},
//               "message": {"text_message": {"text": ...}}, "channel_priority_order": [...]}; sent with
//               messages.sendTextMessage. Result: the SDK's SendMessageResponse.
//   send        body: any SendMessageRequest body; sent with messages.send. Result: the SendMessageResponse.
//   get         message_id (or, in a session, message_id_from_step: the index of an earlier send step whose
//               message_id to read), optional messages_source (the SDK sends CONVERSATION_SOURCE by default).
//               Result: the SDK's ConversationMessage.
//   get_app     app_id. Result: the SDK's AppResponse.
//   session     steps: [op objects as above], run in order on ONE client (so one OAuth2 token).
//               Result: {steps: [result, ...]}.
//
// stdout gets exactly one JSON object: {"ok": true, "result": ..., "dates": [...]} or {"ok": false, "error": message,
// "status": http status or null, "body": the error body the SDK read, or null}. "dates" lists the paths (like
// "steps.1.accept_time") of the values the SDK turned into Date objects (JSON writes them as ISO strings), so a test
// can tell a timestamp the SDK read from a string it passed through. The SDK's own console output goes to stderr.
// Every SDK call is bounded by timeoutMs.
'use strict';

// Before the SDK loads: from here on nothing but the result may reach stdout (cli.js).
const { main, withTimeout } = require('./cli');

const { ConversationService } = require('@sinch/conversation');

// The paths of every Date inside a result (the SDK revives ISO strings of a response into Date objects).
function datePaths(value, path = [], found = []) {
  if (value instanceof Date) {
    found.push(path.join('.'));
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => datePaths(item, [...path, String(index)], found));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) datePaths(item, [...path, key], found);
  }
  return found;
}

function required(args, name) {
  if (args[name] === undefined) throw new Error(`${args.op} needs "${name}"`);
  return args[name];
}

async function runOp(service, args, timeoutMs, results = []) {
  switch (args.op) {
    case 'send_text':
      return withTimeout(
        service.messages.sendTextMessage({ sendMessageRequestBody: required(args, 'body') }),
        timeoutMs,
        'messages.sendTextMessage',
      );
    case 'send':
      return withTimeout(
        service.messages.send({ sendMessageRequestBody: required(args, 'body') }),
        timeoutMs,
        'messages.send',
      );
    case 'get': {
      const earlier = args.message_id_from_step !== undefined ? results[args.message_id_from_step] : undefined;
      if (args.message_id_from_step !== undefined && !(earlier && earlier.message_id)) {
        throw new Error(`step ${args.message_id_from_step} has no message_id to read`);
      }
      const request = { message_id: earlier ? earlier.message_id : required(args, 'message_id') };
      if (args.messages_source !== undefined) request.messages_source = args.messages_source;
      return withTimeout(service.messages.get(request), timeoutMs, 'messages.get');
    }
    case 'get_app':
      return withTimeout(service.app.get({ app_id: required(args, 'app_id') }), timeoutMs, 'app.get');
    default:
      throw new Error(`unknown op ${JSON.stringify(args.op)}`);
  }
}

main({
  sessionOp: 'session',
  makeClient: (input) =>
    new ConversationService({
      projectId: input.projectId,
      keyId: input.keyId,
      keySecret: input.keySecret,
      conversationRegion: input.conversationRegion || 'us',
      conversationHostname: input.conversationHostname,
      authHostname: input.authHostname,
    }),
  runOp,
  annotate: (result) => ({ dates: datePaths(result) }),
});
