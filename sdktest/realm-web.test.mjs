// The Realm Web SDK (realm-web 2.0.1) against `tokenguard emulator`, through
// `tokenguard proxy`: register, confirm, log in, read the profile, call the
// gateway with the SDK's access token, refresh, revoke through the gateway's
// webhook, revoke the user's sessions through the Admin API and log out.
// Run with `node --test` (make test-sdk). Tokens are never printed.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as Realm from "realm-web";

import {
  adminSession, boundedFetch, ids, signWebhook, startEmulator, startProxy, startServer, stopProcess,
  tokenguardBinary,
} from "./harness.mjs";

const email = "ada@example.com";
const password = "correct horse";
const revokeSecret = "sdktest-revoke-secret-of-32-bytes-or-more";

let binary, emulator, proxy, upstream, confirmFn;
const confirmations = []; // the confirmation function's arguments, in order
const calls = []; // every request the SDK sent, with its answer's status and error

/** Prints one step of the flow: what the step returned. */
function step(name, result) {
  console.log(`step ${name}: ${JSON.stringify(result)}`);
}

before(async () => {
  binary = tokenguardBinary();
  // The confirmation function keeps registrations pending: the test confirms
  // them with the token and tokenId it was given, as an app's link would.
  confirmFn = await startServer(async (_req, body) => {
    confirmations.push(JSON.parse(body));
    return [200, { status: "pending" }];
  });
  upstream = await startServer(async (req) => [200, {
    path: req.url,
    userId: req.headers["x-auth-user-id"] ?? null,
    authorization: req.headers.authorization ? "present" : "absent",
  }]);
  emulator = await startEmulator(binary.bin, ["--confirmation", "function", "--confirm-function-url", confirmFn.url]);
  proxy = await startProxy(binary.bin, emulator.url, upstream.url, revokeSecret);
});

after(async () => {
  await stopProcess(proxy?.proc);
  await stopProcess(emulator?.proc);
  await upstream?.close();
  await confirmFn?.close();
  binary?.cleanup();
});

/** A realm-web App on the emulator whose requests are recorded in calls. */
function newApp() {
  return new Realm.App({
    id: ids.clientAppId,
    baseUrl: emulator.url,
    fetch: async (url, init) => {
      const res = await boundedFetch(url, init);
      const call = { method: init?.method ?? "GET", path: new URL(url).pathname, status: res.status };
      if (!res.ok) call.error = (await res.clone().json()).error;
      calls.push(call);
      return res;
    },
  });
}

function viaGateway(token, path = "/hello") {
  return boundedFetch(proxy.url + path, { headers: { Authorization: `Bearer ${token}` } });
}

test("realm-web signs up, signs in through the gateway and logs out after a revocation", async () => {
  const app = newApp();
  const admin = await adminSession(emulator.url);

  // Register: the confirmation function is called and the user is pending.
  await app.emailPasswordAuth.registerUser({ email, password });
  assert.equal(calls[0].path, `/api/client/v2.0/app/${ids.clientAppId}/location`, "the SDK asks for the location first");
  assert.equal(confirmations.length, 1);
  const [arg] = confirmations[0];
  assert.equal(arg.username, email);
  assert.match(arg.tokenId, /^[0-9a-f]{24}$/);
  assert.ok(arg.token.length > 0);
  const pending = await admin("GET", "/user_registrations/pending_users");
  assert.deepEqual(pending.body.map((p) => p.login_ids[0].id), [email]);
  step("register", { location: calls[0].status, register: calls[1].status, pendingUsers: pending.body.length });

  // Log in before confirming fails with the wire code of a wrong password.
  await assert.rejects(app.logIn(Realm.Credentials.emailPassword(email, password)), (err) => {
    assert.equal(err.statusCode, 401);
    assert.equal(err.errorCode, "InvalidPassword");
    return true;
  });

  // Confirm with the function's token and tokenId.
  await app.emailPasswordAuth.confirmUser({ token: arg.token, tokenId: arg.tokenId });
  assert.deepEqual((await admin("GET", "/user_registrations/pending_users")).body, []);
  step("confirm", { status: calls.at(-1).status, pendingUsers: 0 });

  // Log in: the SDK fetches the profile right after.
  const user = await app.logIn(Realm.Credentials.emailPassword(email, password));
  assert.equal(user.providerType, "local-userpass");
  assert.match(user.id, /^[0-9a-f]{24}$/);
  assert.match(user.deviceId, /^[0-9a-f]{24}$/);
  const firstDevice = user.deviceId; // user.deviceId reads the access token, gone after logOut
  step("logIn", { userId: user.id, deviceId: user.deviceId, state: user.state });

  // Profile.
  await user.refreshProfile();
  assert.deepEqual(user.profile, { email });
  assert.deepEqual(user.identities.map((i) => i.providerType), ["local-userpass"]);
  const devices = await admin("GET", `/users/${user.id}/devices`);
  assert.equal(devices.body.length, 1);
  assert.equal(devices.body[0]._id, user.deviceId);
  assert.equal(devices.body[0].platform, "node");
  assert.equal(devices.body[0].sdk_version, "2.0.1");
  step("profile", { profile: user.profile, identities: user.identities.map((i) => i.providerType), devices: devices.body });

  // The gateway accepts the SDK's access token and names the user upstream.
  let res = await viaGateway(user.accessToken);
  assert.equal(res.status, 200);
  let echoed = await res.json();
  assert.equal(echoed.userId, user.id);
  assert.equal(echoed.authorization, "absent", "the gateway removes the token");
  step("proxy", { status: res.status, upstreamSaw: echoed });

  // Refresh: the new access token works through the gateway too.
  const before = calls.length;
  await user.refreshAccessToken();
  assert.deepEqual(calls.slice(before).map((c) => [c.method, c.path, c.status]), [["POST", "/api/client/v2.0/auth/session", 201]]);
  res = await viaGateway(user.accessToken);
  assert.equal(res.status, 200);
  assert.equal((await res.json()).userId, user.id);
  step("refresh", { status: 201, proxyAfterRefresh: 200 });

  // Revoke through the gateway's webhook: the token is refused at once,
  // though App Services would keep verifying it until it expires.
  const hook = JSON.stringify({ user_id: user.id });
  res = await boundedFetch(`${proxy.adminURL}/revoke`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Tokenguard-Signature": signWebhook(revokeSecret, hook) },
    body: hook,
  });
  assert.equal(res.status, 204);
  const refused = await viaGateway(user.accessToken);
  assert.equal(refused.status, 401);
  step("webhook revoke", { webhook: res.status, proxyWithOldToken: refused.status });

  // Revoke the user's sessions through the Admin API; logOut still succeeds:
  // the service's "failed to find refresh token" is what realm-web ignores.
  const revoke = await admin("PUT", `/users/${user.id}/logout`);
  assert.equal(revoke.status, 204);
  const beforeLogout = calls.length;
  await user.logOut();
  const logout = calls.slice(beforeLogout);
  assert.equal(logout.length, 1);
  assert.equal(logout[0].method, "DELETE");
  assert.equal(logout[0].path, "/api/client/v2.0/auth/session");
  assert.equal(logout[0].status, 401);
  assert.equal(logout[0].error, "invalid session: failed to find refresh token");
  assert.equal(user.state, Realm.UserState.LoggedOut);
  step("admin revoke + logOut", { adminRevoke: revoke.status, logOutCall: logout[0], state: user.state });

  // A second login reuses the device the SDK remembered.
  const again = await app.logIn(Realm.Credentials.emailPassword(email, password));
  const againDevice = again.deviceId;
  assert.equal(againDevice, firstDevice);
  assert.equal((await admin("GET", `/users/${user.id}/devices`)).body.length, 1);
  await again.logOut();
  step("logIn again", { deviceId: againDevice, sameDevice: againDevice === firstDevice });
});

test("anonymous login and unknown routes answer JSON the SDK can report", async () => {
  const app = newApp();
  const anon = await app.logIn(Realm.Credentials.anonymous());
  assert.equal(anon.providerType, "anon-user");
  assert.deepEqual(anon.identities.map((i) => i.providerType), ["anon-user"]);
  // realm-web calls functions at /functions/call, which the emulator does not serve.
  await assert.rejects(anon.functions.hello(), (err) => {
    assert.equal(err.statusCode, 404);
    assert.equal(err.errorCode, "NotFound");
    return true;
  });
  await anon.logOut();
  step("anonymous", { providerType: anon.providerType, functionCall: 404 });
});

test("emulator --malformed-token-status 400 answers the OpenAPI spec's status", async () => {
  const other = await startEmulator(binary.bin, ["--malformed-token-status", "400"]);
  try {
    const admin = await adminSession(other.url);
    const r = await admin("POST", "/users/verify_token", { token: "not.a.jwt" });
    assert.equal(r.status, 400);
    assert.equal(r.body.error_code, "BadRequest");
    step("malformed verify_token", { status: r.status, body: r.body });
  } finally {
    await stopProcess(other.proc);
  }
});
