import { fork } from "node:child_process";
import http2 from "node:http2";
const mode = process.argv[2] ?? "raw";
const server = fork(new URL("./server.mjs", import.meta.url), [mode], { execArgv: ["--expose-gc"] });
const port = await new Promise((r) => server.once("message", r));
const ask = () => new Promise((r) => { server.once("message", r); server.send("rss"); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await sleep(1000);
const before = await ask();
const sessions = [];
let got = 0;
for (let s = 0; s < 50; s++) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  sessions.push(session);
  for (let i = 0; i < 100; i++) {
    const st = session.request({ ":method": "POST", ":path": "/x", "content-type": "application/connect+proto" });
    st.end(Buffer.alloc(30));
    st.on("data", () => { got++; });
  }
}
while (got < 5000) await sleep(100);
await sleep(2000);
const after = await ask();
console.log(mode, "before", before, "after", after, "per stream KB rss", ((after.rss - before.rss) / 5000 / 1024).toFixed(1), "heap KB", ((after.heap - before.heap) / 5000 / 1024).toFixed(1));
process.exit(0);
