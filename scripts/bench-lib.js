// What the benchmark scripts share: a free loopback port, a sleep, a
// JSON-RPC call to anvil, and a quantile of sorted figures.
const net = require("net");

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rpc(port, method, params) {
  const res = await fetch(`http://127.0.0.1:${port}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const doc = await res.json();
  if (doc.error) throw new Error(`${method}: ${JSON.stringify(doc.error)}`);
  return doc.result;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

module.exports = { freePort, sleep, rpc, quantile };
