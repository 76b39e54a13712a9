// Processes and servers for the SDK test: the tokenguard binary (built here
// unless TOKENGUARD_BIN names one), an emulator, a proxy, an upstream that
// echoes the identity headers, and an HTTP confirmation function. Every wait
// is bounded; stop() ends what start*() began.

import { spawn, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// The emulator's fixed identifiers and keys (verifier/appservices/appservicestest).
export const ids = {
  groupId: "6650a1b2c3d4e5f601234567",
  appId: "6650a1b2c3d4e5f60123abcd",
  clientAppId: "tokenguard-demo-abcde",
  publicKey: "demo-public-key",
  privateKey: "demo-private-key",
};

const waitMs = 30_000; // bound on a process becoming ready
const callMs = 10_000; // bound on one HTTP call

/** fetch with a bound, for the test's own calls and the SDK's. */
export function boundedFetch(url, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(callMs) });
}

/** Returns the binary's path and a cleanup, building it when needed. */
export function tokenguardBinary() {
  if (process.env.TOKENGUARD_BIN) {
    return { bin: resolve(process.env.TOKENGUARD_BIN), cleanup() {} };
  }
  const dir = mkdtempSync(join(tmpdir(), "tokenguard-sdktest-"));
  const bin = join(dir, "tokenguard");
  execFileSync("go", ["build", "-o", bin, "./cmd/tokenguard"], { cwd: repo, stdio: "inherit", timeout: 300_000 });
  return { bin, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs bin with args and resolves once a line of its output satisfies
 * ready (which returns a value, or undefined to keep waiting), with
 * { proc, value, output() }. Rejects if the process exits or the wait ends.
 */
function startProcess(bin, args, env, ready) {
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let buffered = "";
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${args[0]} not ready within ${waitMs} ms; output:\n${output}`));
    }, waitMs);
    const onData = (chunk) => {
      output += chunk;
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const value = ready(line);
        if (value !== undefined) {
          clearTimeout(timer);
          resolvePromise({ proc, value, output: () => output });
        }
      }
    };
    proc.stdout.setEncoding("utf8").on("data", onData);
    proc.stderr.setEncoding("utf8").on("data", onData);
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited (${code ?? signal}) before it was ready; output:\n${output}`));
    });
  });
}

/** Ends a process started by startProcess, waiting (bounded) for its exit. */
export function stopProcess(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), waitMs);
    proc.once("exit", () => {
      clearTimeout(timer);
      resolvePromise();
    });
    proc.kill("SIGTERM");
  });
}

/** Starts `tokenguard emulator` on a free loopback port; resolves with its base URL. */
export async function startEmulator(bin, extraArgs = []) {
  const { proc, value } = await startProcess(bin, ["emulator", "--listen", "127.0.0.1:0", ...extraArgs], {}, (line) => {
    const m = /^admin API:\s+(http:\/\/\S+)\/api\/admin\/v3\.0$/.exec(line);
    return m ? m[1] : undefined;
  });
  return { proc, url: value };
}

/** Starts `tokenguard proxy` in front of upstream; resolves with its data and admin URLs. */
export async function startProxy(bin, emulatorURL, upstreamURL, revokeSecret) {
  const args = [
    "proxy", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream", upstreamURL,
    "--api-url", emulatorURL, "--group-id", ids.groupId, "--app-id", ids.appId,
    "--public-key", ids.publicKey, "--log-format", "json",
  ];
  // Secrets through the environment, as operators are told to.
  const env = { TOKENGUARD_PRIVATE_KEY: ids.privateKey, TOKENGUARD_REVOKE_SECRET: revokeSecret };
  const { proc, value } = await startProcess(bin, args, env, (line) => {
    try {
      const rec = JSON.parse(line);
      if (rec.msg === "tokenguard: listening") return rec;
    } catch {
      // not a JSON log line
    }
    return undefined;
  });
  return { proc, url: `http://${value.addr}`, adminURL: `http://${value.admin}` };
}

/** Starts a loopback HTTP server; handler(req, body) returns [status, object]. */
export async function startServer(handler) {
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c) => (body += c)).on("end", async () => {
      const [status, out] = await handler(req, body);
      res.writeHead(status, { "Content-Type": "application/json", Connection: "close" });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/** Signs a revoke webhook body now, as middleware.SignWebhook does:
 * t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>. */
export function signWebhook(secret, body) {
  const t = Math.floor(Date.now() / 1000);
  return `t=${t},v1=` + createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
}

/** An Admin API session on the emulator at base. */
export async function adminSession(base) {
  const res = await boundedFetch(`${base}/api/admin/v3.0/auth/providers/mongodb-cloud/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: ids.publicKey, apiKey: ids.privateKey }),
  });
  if (res.status !== 200) throw new Error(`admin login: ${res.status}`);
  const { access_token: token } = await res.json();
  const app = `${base}/api/admin/v3.0/groups/${ids.groupId}/apps/${ids.appId}`;
  return async (method, path, body) => {
    const r = await boundedFetch(app + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
}
