// Detection latency, end to end, on real parts: a transfer is sent to anvil
// (automine: the send returns once the block is mined), `argus run` follows
// the chain over a WebSocket, matches the transfer and POSTs a signed alert
// to a webhook receiver in this script. The figure is the time from the
// start of the send (so mining is included) to the webhook's arrival.
//
// Usage: node scripts/bench-latency.js ARGUS_BINARY [TRANSFERS]
// Prints p50, p90, p99 and max in milliseconds.
const { spawn, execFileSync } = require("child_process");
const http = require("http");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { freePort, sleep, rpc, quantile } = require("./bench-lib");

const root = path.resolve(__dirname, "..");
const argus = process.argv[2];
const count = Number(process.argv[3] || 200);
if (!argus) {
  console.error("usage: node scripts/bench-latency.js ARGUS_BINARY [TRANSFERS]");
  process.exit(2);
}




(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "argus-bench-"));
  const anvilPort = await freePort();
  const hookPort = await freePort();
  const children = [];
  const cleanup = () => children.forEach((c) => c.kill("SIGKILL"));
  process.on("exit", cleanup);

  children.push(
    spawn(path.join(root, "node_modules/.bin/anvil"), ["--port", anvilPort, "--host", "127.0.0.1", "--silent"], {
      stdio: "ignore",
    })
  );
  for (let i = 0; ; i++) {
    try {
      await rpc(anvilPort, "eth_chainId", []);
      break;
    } catch (e) {
      if (i > 100) throw e;
      await sleep(100);
    }
  }
  const broadcast = require(path.join(root, "testdata/foundry-project/broadcast/Deploy.s.sol/31337/run-latest.json"));
  for (const t of broadcast.transactions) {
    const x = t.transaction;
    const tx = { from: x.from, data: x.input, gas: "0x1c9c380" };
    if (x.to) tx.to = x.to;
    await rpc(anvilPort, "eth_sendTransaction", [tx]);
  }
  const dataDir = path.join(dir, "data");
  execFileSync(argus, ["--data-dir", dataDir, "registry", "import", path.join(root, "testdata/foundry-project")], {
    stdio: "ignore",
  });

  const arrivals = new Map();
  let waiting = null;
  http
    .createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const at = performance.now();
        const doc = JSON.parse(Buffer.concat(chunks).toString());
        if (doc.kind === "fire") arrivals.set(doc.alert.tx_hash, at);
        res.writeHead(200).end();
        if (waiting) waiting();
      });
    })
    .listen(hookPort, "127.0.0.1");

  fs.writeFileSync(
    path.join(dir, "rules.yaml"),
    `rules:\n  - id: transfer\n    severity: high\n    match:\n      event: { contract: Token, signature: "Transfer(address,address,uint256)" }\n    condition: args.value > uint256("0")\n`
  );
  const start = Number(await rpc(anvilPort, "eth_blockNumber", [])) + 1;
  fs.writeFileSync(
    path.join(dir, "argus.yaml"),
    JSON.stringify({
      data_dir: dataDir,
      chains: [{ chain: "anvil", rpc: [{ name: "anvil", url: `http://127.0.0.1:${anvilPort}`, ws_url: `ws://127.0.0.1:${anvilPort}` }], confirmations: 0, fetch: "full", start }],
      rules: [path.join(dir, "rules.yaml")],
      alerting: {
        dedup_window: "0s",
        notifiers: { hook: { type: "webhook", url: `http://127.0.0.1:${hookPort}/`, secret: { env: "ARGUS_BENCH_SECRET" } } },
      },
    })
  );
  const daemon = spawn(argus, ["run", "--quiet", "-c", path.join(dir, "argus.yaml")], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, ARGUS_BENCH_SECRET: "bench-secret-0123456789" },
  });
  children.push(daemon);

  const token = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
  const alice = "70997970C51812dc3A010C7d01b50e0d17dc79C8".toLowerCase().padStart(64, "0");
  const send = (amount) =>
    rpc(anvilPort, "eth_sendTransaction", [
      {
        from: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        to: token,
        gas: "0x30000",
        data: "0xa9059cbb" + alice + amount.toString(16).padStart(64, "0"),
      },
    ]);
  // Warm up: the first alert also waits for the daemon to start.
  const first = await send(1);
  while (!arrivals.has(first)) await new Promise((r) => (waiting = r));
  const latencies = [];
  const mining = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const hash = await send(i + 2);
    mining.push(performance.now() - t0);
    while (!arrivals.has(hash)) {
      await Promise.race([new Promise((r) => (waiting = r)), sleep(5000)]);
      if (performance.now() - t0 > 10000) throw new Error(`no alert for ${hash} after 10 s`);
    }
    latencies.push(arrivals.get(hash) - t0);
  }
  latencies.sort((a, b) => a - b);
  mining.sort((a, b) => a - b);
  try {
    const status = fs.readFileSync(`/proc/${daemon.pid}/status`, "utf8");
    const field = (name) => (status.match(new RegExp(`${name}:\\s+(\\d+) kB`)) || [])[1];
    console.log(
      `daemon memory after ${count + 1} alerts: RSS ${(field("VmRSS") / 1024).toFixed(1)} MiB, peak ${(field("VmHWM") / 1024).toFixed(1)} MiB`
    );
  } catch (e) {
    // not Linux: no /proc
  }
  const f = (x) => x.toFixed(1);
  console.log(
    `of which the send itself (anvil mining the block): p50 ${f(quantile(mining, 0.5))} ms, p99 ${f(quantile(mining, 0.99))} ms`
  );
  console.log(
    `detection latency over ${count} transfers (send → block mined → argus → webhook): ` +
      `p50 ${f(quantile(latencies, 0.5))} ms, p90 ${f(quantile(latencies, 0.9))} ms, ` +
      `p99 ${f(quantile(latencies, 0.99))} ms, max ${f(latencies[latencies.length - 1])} ms`
  );
  cleanup();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
