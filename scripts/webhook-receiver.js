// A webhook receiver for the demo: verifies each delivery's HMAC signature
// (X-Argus-Signature over "<timestamp>.<body>") and prints one line per
// delivery. Usage: node scripts/webhook-receiver.js PORT (secret in
// ARGUS_DEMO_WEBHOOK_SECRET).
const http = require("http");
const crypto = require("crypto");
const secret = process.env.ARGUS_DEMO_WEBHOOK_SECRET || "";
const seen = new Set();
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const ts = req.headers["x-argus-timestamp"] || "";
      const expected =
        "sha256=" + crypto.createHmac("sha256", secret).update(ts + ".").update(body).digest("hex");
      const got = String(req.headers["x-argus-signature"] || "");
      const ok =
        got.length === expected.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(expected));
      if (!ok) {
        res.writeHead(401).end();
        console.error("webhook: REFUSED a delivery with a bad signature");
        return;
      }
      const key = req.headers["idempotency-key"];
      const doc = JSON.parse(body.toString("utf8"));
      const again = seen.has(key) ? " (repeat, ignored)" : "";
      seen.add(key);
      console.error(
        `webhook: ${doc.kind} ${doc.alert.severity} ${doc.alert.rule_id}: ${doc.alert.title} [signature ok]${again}`
      );
      res.writeHead(200).end();
    });
  })
  .listen(Number(process.argv[2]), "127.0.0.1");
