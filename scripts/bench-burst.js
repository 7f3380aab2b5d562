// Delivery under a burst, end to end, on real parts: anvil mining a block
// every second, `argus run` following it over a WebSocket, and a webhook
// receiver in this script on loopback. 1,000 token transfers and 1,000
// native transfers are sent in one JSON-RPC batch, each matching a rule.
//
// For each confirmation setting (0 and 1) a fresh daemon and data directory:
// first the single-transaction latency (transfers sent one at a time), then
// the burst. The figures:
// - from final to webhook: per alert, the time from the moment the block
//   that makes it final arrived at this script (its own block with 0
//   confirmations, the next one with 1; this script polls the head every
//   5 ms) to the alert's arrival at the webhook;
// - deliveries per second to the one webhook, over the block with most alerts
//   (from its first alert's arrival to its last), and how busy the receiver
//   (this script's one thread) and the daemon (its CPU time, sampled every
//   5 ms) were over that span: near 100 % the receiver, not the daemon, sets
//   the pace; and anvil, and the whole machine (/proc/stat): near 100 %
//   the machine's cores are the cap, whichever process holds them;
// - the whole burst: from sending the batch to the last alert's arrival;
// - the daemon's peak RSS (VmHWM in /proc/PID/status, after the burst);
// - the daemon's CPU time from sending the batch to the last alert's
//   arrival (/proc/PID/stat), which other load on the machine changes less
//   than the wall-clock figures.
//
// Usage: node scripts/bench-burst.js ARGUS_BINARY [TRANSFERS_OF_EACH_KIND] [SINGLE_TRANSFERS]
// Environment: BENCH_CONFIRMATIONS (default "0,1"), BENCH_IN_FLIGHT (the
// webhook's max_in_flight; default: the notifier's default, 64).
const { spawn, execFileSync } = require("child_process");
const net = require("net");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { freePort, sleep, rpc, quantile } = require("./bench-lib");

const root = path.resolve(__dirname, "..");
const argus = process.argv[2];
const each = Number(process.argv[3] || 1000);
const singles = Number(process.argv[4] || 10);
if (!argus) {
  console.error("usage: node scripts/bench-burst.js ARGUS_BINARY [TRANSFERS_OF_EACH_KIND] [SINGLE_TRANSFERS]");
  process.exit(2);
}

const f = (x) => x.toFixed(1);


async function batch(port, calls) {
  const res = await fetch(`http://127.0.0.1:${port}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(calls.map(([method, params], id) => ({ jsonrpc: "2.0", id, method, params }))),
  });
  const docs = await res.json();
  const failed = docs.find((d) => d.error);
  if (failed) throw new Error(`batch: ${JSON.stringify(failed.error)}`);
  return docs.sort((a, b) => a.id - b.id).map((d) => d.result);
}

const DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const PAYER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"; // anvil's third account
const PAYEE = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const ALICE = "70997970C51812dc3A010C7d01b50e0d17dc79C8".toLowerCase().padStart(64, "0");
const tokenTransfer = (amount) => ({
  from: DEPLOYER,
  to: TOKEN,
  gas: "0x30000",
  data: "0xa9059cbb" + ALICE + amount.toString(16).padStart(64, "0"),
});
const nativeTransfer = (wei) => ({ from: PAYER, to: PAYEE, gas: "0x5208", value: "0x" + wei.toString(16) });

async function run(confirmations, children) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "argus-bench-burst-"));
  const anvilPort = await freePort();
  const hookPort = await freePort();
  const anvil = spawn(
    path.join(root, "node_modules/.bin/anvil"),
    ["--port", anvilPort, "--host", "127.0.0.1", "--silent", "--block-time", "1"],
    { stdio: "ignore" }
  );
  children.push(anvil);
  for (let i = 0; ; i++) {
    try {
      await rpc(anvilPort, "eth_chainId", []);
      break;
    } catch (e) {
      if (i > 100) throw e;
      await sleep(100);
    }
  }
  // The heads as they become known here: eth_blockNumber every 5 ms (Node
  // 20 has no WebSocket client), so a block's time is known to 5 ms.
  const heads = new Map();
  let polling = true;
  (async () => {
    let known = Number(await rpc(anvilPort, "eth_blockNumber", []));
    while (polling) {
      const number = Number(await rpc(anvilPort, "eth_blockNumber", []).catch(() => known));
      const at = performance.now();
      for (let n = known + 1; n <= number; n++) heads.set(n, at);
      known = Math.max(known, number);
      await sleep(5);
    }
  })();
  const nextHead = () => sleep(100);

  const broadcast = require(path.join(root, "testdata/foundry-project/broadcast/Deploy.s.sol/31337/run-latest.json"));
  let last;
  for (const t of broadcast.transactions) {
    const x = t.transaction;
    const tx = { from: x.from, data: x.input, gas: "0x1c9c380" };
    if (x.to) tx.to = x.to;
    last = await rpc(anvilPort, "eth_sendTransaction", [tx]);
  }
  while (!(await rpc(anvilPort, "eth_getTransactionReceipt", [last]))) await nextHead();
  const dataDir = path.join(dir, "data");
  execFileSync(argus, ["--data-dir", dataDir, "registry", "import", path.join(root, "testdata/foundry-project")], {
    stdio: "ignore",
  });

  const arrivals = new Map(); // tx hash → { at, block }
  const chat = []; // the Slack-type notifier's messages: { at, text }
  let waiting = null;
  // The receiver: a minimal HTTP/1.1 server over `net` (keep-alive, bodies
  // with Content-Length, as reqwest sends them). Node's `http` module cost
  // about 300 µs of this one thread per request here and capped the figure
  // near 3,500 a second with the daemon half idle; this measures the daemon.
  const sockets = new Set();
  const handle = (target, body) => {
    const at = performance.now();
    const doc = JSON.parse(body);
    if (target.startsWith("/slack")) {
      chat.push({ at, text: String(doc.text || "") });
      return "ok";
    }
    if (doc.kind === "fire" && !arrivals.has(doc.alert.tx_hash)) {
      // With this script's CPU time (µs) so far: the receiver's share.
      const used = process.cpuUsage();
      arrivals.set(doc.alert.tx_hash, { at, block: Number(doc.alert.block_number), cpu: used.user + used.system });
    }
    if (waiting) waiting();
    return "";
  };
  const server = net
    .createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      let pending = Buffer.alloc(0);
      socket.on("data", (chunk) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        for (;;) {
          const headEnd = pending.indexOf("\r\n\r\n");
          if (headEnd < 0) return;
          const head = pending.toString("latin1", 0, headEnd);
          const length = Number((/\r\ncontent-length:\s*(\d+)/i.exec(head) || [])[1] || 0);
          if (pending.length < headEnd + 4 + length) return;
          const body = pending.toString("utf8", headEnd + 4, headEnd + 4 + length);
          pending = pending.subarray(headEnd + 4 + length);
          const answer = handle(head.split(" ")[1] || "/", body);
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${answer.length}\r\n\r\n${answer}`);
        }
      });
    })
    .listen(hookPort, "127.0.0.1");

  fs.writeFileSync(
    path.join(dir, "rules.yaml"),
    [
      "rules:",
      "  - id: token-transfer",
      "    severity: high",
      "    match:",
      '      event: { contract: Token, signature: "Transfer(address,address,uint256)" }',
      '    condition: args.value > uint256("0")',
      "  - id: native-transfer",
      "    severity: high",
      "    match:",
      `      transaction: { from: "${PAYER}", to: "${PAYEE}" }`,
      "",
    ].join("\n")
  );
  const start = Number(await rpc(anvilPort, "eth_blockNumber", [])) + 1;
  fs.writeFileSync(
    path.join(dir, "argus.yaml"),
    JSON.stringify({
      data_dir: dataDir,
      chains: [
        {
          chain: "anvil",
          rpc: [{ name: "anvil", url: `http://127.0.0.1:${anvilPort}`, ws_url: `ws://127.0.0.1:${anvilPort}` }],
          confirmations,
          fetch: "full",
          start,
        },
      ],
      rules: [path.join(dir, "rules.yaml")],
      alerting: {
        dedup_window: "0s",
        notifiers: {
          hook: {
            type: "webhook",
            url: `http://127.0.0.1:${hookPort}/`,
            secret: { env: "ARGUS_BENCH_SECRET" },
            ...(process.env.BENCH_IN_FLIGHT ? { max_in_flight: Number(process.env.BENCH_IN_FLIGHT) } : {}),
          },
          // A Slack-type sink with its defaults: grouped by rule (wait 5 s,
          // interval 1 min) and Slack's rate limit of one message a second.
          chat: { type: "slack", webhook_url: { env: "ARGUS_BENCH_SLACK" } },
        },
      },
    })
  );
  const daemon = spawn(argus, ["run", "--quiet", "-c", path.join(dir, "argus.yaml")], {
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      ARGUS_BENCH_SECRET: "bench-secret-0123456789",
      ARGUS_BENCH_SLACK: `http://127.0.0.1:${hookPort}/slack`,
    },
  });
  children.push(daemon);
  const waitFor = async (hashes, limitMs) => {
    const t0 = performance.now();
    while (hashes.some((h) => !arrivals.has(h))) {
      await Promise.race([new Promise((r) => (waiting = r)), sleep(500)]);
      if (performance.now() - t0 > limitMs) {
        const missing = hashes.filter((h) => !arrivals.has(h)).length;
        throw new Error(`${missing} alerts missing after ${limitMs / 1000} s`);
      }
    }
  };
  const finalAt = (block) => heads.get(block + confirmations);

  // Warm up: the first alert also waits for the daemon to start.
  let amount = 1;
  await waitFor([await rpc(anvilPort, "eth_sendTransaction", [tokenTransfer(amount++)])], 60_000);

  // Single transactions, one at a time.
  const sendToHook = [];
  const finalToHook = [];
  for (let i = 0; i < singles; i++) {
    // At a random point of the block interval, as a real transaction comes.
    await sleep(Math.random() * 1000);
    const t0 = performance.now();
    const hash = await rpc(anvilPort, "eth_sendTransaction", [tokenTransfer(amount++)]);
    await waitFor([hash], 30_000);
    const { at, block } = arrivals.get(hash);
    sendToHook.push(at - t0);
    finalToHook.push({ at, block });
  }

  // The burst: one batch, token and native transfers interleaved.
  // Explicit nonces: anvil serves a batch's calls concurrently.
  const nonce = async (who) => Number(await rpc(anvilPort, "eth_getTransactionCount", [who, "pending"]));
  let deployerNonce = await nonce(DEPLOYER);
  let payerNonce = await nonce(PAYER);
  const hex = (n) => "0x" + n.toString(16);
  const calls = [];
  for (let i = 0; i < each; i++) {
    calls.push(["eth_sendTransaction", [{ ...tokenTransfer(amount++), nonce: hex(deployerNonce++) }]]);
    calls.push(["eth_sendTransaction", [{ ...nativeTransfer(i + 1), nonce: hex(payerNonce++) }]]);
  }
  const memory = (field) => {
    try {
      const status = fs.readFileSync(`/proc/${daemon.pid}/status`, "utf8");
      return Number((status.match(new RegExp(`${field}:\\s+(\\d+) kB`)) || [])[1]) / 1024;
    } catch (e) {
      return null; // not Linux: no /proc
    }
  };
  const threads = () => {
    try {
      const status = fs.readFileSync(`/proc/${daemon.pid}/status`, "utf8");
      return Number((status.match(/Threads:\s+(\d+)/) || [])[1]);
    } catch (e) {
      return null;
    }
  };
  // The daemon's CPU time (user + system), in ms: what the burst cost it,
  // whatever else the machine was doing (wall-clock figures are not).
  const cpuOf = (pid) => {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in USER_HZ (100)
    } catch (e) {
      return null;
    }
  };
  const cpuMs = () => cpuOf(daemon.pid);
  // The whole machine's CPU time, busy and in all (/proc/stat, every CPU):
  // whether the cores were all taken, by whichever process.
  const machine = () => {
    try {
      const ticks = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
      const total = ticks.reduce((a, b) => a + b, 0);
      return { busy: total - ticks[3] - (ticks[4] || 0), total }; // less idle and iowait
    } catch (e) {
      return null;
    }
  };
  const peakBefore = memory("VmHWM");
  const split = () =>
    `anonymous ${f(memory("RssAnon"))} MiB, file-backed ${f(memory("RssFile"))} MiB, ${threads()} threads`;
  const splitBefore = split();
  const cpuBefore = cpuMs();
  // The daemon's CPU time every 5 ms over the burst, for its share of the
  // delivery span below.
  const daemonCpu = [];
  const sampler = setInterval(
    () => daemonCpu.push({ at: performance.now(), cpu: cpuMs(), anvil: cpuOf(anvil.pid), machine: machine() }),
    5
  );
  const sentAt = performance.now();
  const hashes = await batch(anvilPort, calls);
  const acceptedAt = performance.now();
  await waitFor(hashes, 120_000);
  const burst = hashes.map((h) => arrivals.get(h));
  // The poll may see the last final block a little after the daemon did.
  const lastBlock = Math.max(...burst.map((a) => a.block)) + confirmations;
  while (!heads.has(lastBlock)) await sleep(5);
  const latencies = burst.map(({ at, block }) => at - finalAt(block)).sort((a, b) => a - b);
  const byBlock = new Map();
  const cpuAt = new Map(); // arrival time → this script's CPU time then
  for (const { at, block, cpu } of burst) {
    const b = byBlock.get(block) || [];
    b.push(at);
    byBlock.set(block, b);
    cpuAt.set(at, cpu);
  }
  const [bigBlock, bigArrivals] = [...byBlock.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  bigArrivals.sort((a, b) => a - b);
  const spanMs = bigArrivals[bigArrivals.length - 1] - bigArrivals[0];
  // How busy this script (the receiver, one thread) was over that span.
  const receiverBusy = (cpuAt.get(bigArrivals[bigArrivals.length - 1]) - cpuAt.get(bigArrivals[0])) / 1000 / spanMs;
  clearInterval(sampler);
  const cpuNear = (t) => daemonCpu.reduce((best, x) => (Math.abs(x.at - t) < Math.abs(best.at - t) ? x : best));
  const [spanStart, spanEnd] = [cpuNear(bigArrivals[0]), cpuNear(bigArrivals[bigArrivals.length - 1])];
  // A process's CPU time over the span, as a share of one core.
  const share = (key) =>
    spanStart[key] === null || spanEnd[key] === null || spanEnd.at <= spanStart.at
      ? null
      : (spanEnd[key] - spanStart[key]) / (spanEnd.at - spanStart.at);
  const [daemonBusy, anvilBusy] = [share("cpu"), share("anvil")];
  const machineBusy =
    spanStart.machine === null || spanEnd.machine === null || spanEnd.machine.total <= spanStart.machine.total
      ? null
      : (spanEnd.machine.busy - spanStart.machine.busy) / (spanEnd.machine.total - spanStart.machine.total);
  const lastAt = Math.max(...burst.map((a) => a.at));
  const peak = memory("VmHWM");
  const splitAfter = split();
  const cpuBurst = cpuBefore === null ? null : cpuMs() - cpuBefore;
  // The chat sink's digests come a group_wait after the burst's first
  // alerts: wait until it has been quiet for 8 s (at most 30 s).
  const quietSince = () => Math.max(lastAt, ...chat.map((m) => m.at));
  const chatWaitStart = performance.now();
  while (performance.now() - quietSince() < 8000 && performance.now() - chatWaitStart < 30000) await sleep(250);
  const chatBurst = chat.filter((m) => m.at >= sentAt);
  sendToHook.sort((a, b) => a - b);
  const singleFinal = finalToHook.map(({ at, block }) => at - finalAt(block)).sort((a, b) => a - b);
  daemon.kill("SIGKILL");
  anvil.kill("SIGKILL");
  polling = false;
  server.close();
  for (const socket of sockets) socket.destroy();
  fs.rmSync(dir, { recursive: true, force: true });

  console.log(`confirmations: ${confirmations}`);
  console.log(
    `  single transfers (${singles}), send → webhook: p50 ${f(quantile(sendToHook, 0.5))} ms, max ${f(sendToHook[sendToHook.length - 1])} ms; ` +
      `final → webhook: p50 ${f(quantile(singleFinal, 0.5))} ms, max ${f(singleFinal[singleFinal.length - 1])} ms`
  );
  console.log(
    `  burst of ${hashes.length} in ${byBlock.size} blocks (batch accepted by anvil in ${f(acceptedAt - sentAt)} ms): ` +
      `all at the webhook ${f((lastAt - sentAt) / 1000)} s after the batch was sent`
  );
  console.log(
    `  final → webhook over the burst: p50 ${f(quantile(latencies, 0.5))} ms, p99 ${f(quantile(latencies, 0.99))} ms, max ${f(latencies[latencies.length - 1])} ms`
  );
  console.log(
    `  deliveries to one webhook: ${bigArrivals.length} alerts of block ${bigBlock} in ${f(spanMs)} ms = ${Math.round(
      (bigArrivals.length - 1) / (spanMs / 1000)
    )} per second; over that span the receiver (this script, one thread) was busy ${Math.round(
      receiverBusy * 100
    )} % of the time` +
      (daemonBusy === null ? "" : `, the daemon ${Math.round(daemonBusy * 100)} % (of one core)`) +
      (anvilBusy === null ? "" : `, anvil ${Math.round(anvilBusy * 100)} %`) +
      (machineBusy === null ? "" : `; all ${os.cpus().length} CPUs together were busy ${Math.round(machineBusy * 100)} % of the time`)
  );
  if (cpuBurst !== null) {
    console.log(
      `  daemon CPU time over the burst (user + system): ${Math.round(cpuBurst)} ms = ${f((cpuBurst * 1000) / hashes.length)} µs per alert`
    );
  }
  const gaps = chatBurst.slice(1).map((m, i) => m.at - chatBurst[i].at);
  console.log(
    `  the Slack-type notifier over the burst: ${chatBurst.length} message(s) for ${hashes.length} alerts` +
      (gaps.length ? `, at least ${f(Math.min(...gaps))} ms apart` : "") +
      (chatBurst.length ? `; the first ${f((chatBurst[0].at - sentAt) / 1000)} s after the batch was sent` : "")
  );
  for (const m of chatBurst.slice(0, 4)) console.log(`    "${m.text.split("\n")[0].slice(0, 110)}"`);
  if (peak !== null) {
    console.log(`  daemon peak RSS (VmHWM): ${f(peak)} MiB (${f(peakBefore)} MiB before the burst)`);
    console.log(`  daemon RSS now: before the burst ${splitBefore}; after it ${splitAfter}`);
  }
}

(async () => {
  const children = [];
  process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));
  console.log(`bench-burst: ${each} token + ${each} native transfers in one batch, anvil --block-time 1, ${os.cpus().length} CPUs`);
  const settings = (process.env.BENCH_CONFIRMATIONS || "0,1").split(",").map(Number);
  for (const confirmations of settings) await run(confirmations, children);
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
