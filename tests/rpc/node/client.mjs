// A plain JSON-RPC 2.0 peer (npm json-rpc-2.0 over ws) against examples/rpc/server.py.
// Usage: node client.mjs ws://127.0.0.1:PORT/   Prints one JSON line with what it got;
// tests/rpc/test_node_interop.py checks it. Exits 1 on an unexpected failure.
import { JSONRPCClient, JSONRPCServer, JSONRPCServerAndClient } from "json-rpc-2.0";
import WebSocket from "ws";

const url = process.argv[2];
const ws = new WebSocket(url);
const peer = new JSONRPCServerAndClient(
  new JSONRPCServer(),
  new JSONRPCClient((request) => {
    ws.send(JSON.stringify(request));
  }),
);
let welcomed;
const welcome = new Promise((resolve) => { welcomed = resolve; });
peer.addMethod("welcome", (params) => {
  welcomed(params);
  return `hello ${params[0]}, this is node`;
});
ws.on("message", (data, isBinary) => {
  peer.receiveAndSend(JSON.parse(data.toString()));
});
ws.on("close", () => peer.rejectAllPendingRequests("connection closed"));

const failure = async (promise) => {
  try {
    return { result: await promise };
  } catch (err) {
    return { code: err.code, message: err.message, data: err.data };
  }
};

const timer = setTimeout(() => { console.error("timed out"); process.exit(1); }, 20000);
ws.on("open", async () => {
  try {
    const out = {};
    out.echo = await peer.request("echo", ["hi ☃"]);
    out.echoNamed = await peer.request("echo", { value: { nested: [1, 2, 3] } });
    out.add = await peer.request("add", [2, 40]);
    out.addNamed = await peer.request("add", { a: 1.5, b: 2 });
    const slow = peer.request("sleep", [0.3]);
    out.quick = await Promise.all([0, 1, 2, 3].map((i) => peer.request("add", [i, i])));
    out.sleep = await slow;
    out.fail = await failure(peer.request("fail", []));
    out.notFound = await failure(peer.request("no_such_method", []));
    out.badParams = await failure(peer.request("add", [1]));
    out.badTypes = await failure(peer.request("add", ["x", 1]));
    out.batch = await peer.requestAdvanced([
      { jsonrpc: "2.0", method: "echo", params: ["a"], id: 101 },
      { jsonrpc: "2.0", method: "add", params: [1, 2], id: 102 },
      { jsonrpc: "2.0", method: "fail", id: 103 },
    ]);
    peer.notify("echo", ["a notification gets no answer"]);
    out.afterNotify = await peer.request("echo", ["still here"]);
    out.welcome = await welcome;
    console.log(JSON.stringify(out));
    clearTimeout(timer);
    ws.close(1000);
  } catch (err) {
    console.error("unexpected failure:", err);
    process.exit(1);
  }
});
ws.on("error", (err) => { console.error("websocket error:", err.message); process.exit(1); });
