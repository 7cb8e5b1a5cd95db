// The shell: pages by URL hash (#/trade, #/wallet, #/products/..., #/risk, #/operator), the login dialog (the local demo
// account in one click, or a pasted key), the subaccount switcher.
import { ApiError, credentials, get, onCredentials, onOperator, privGet, setCredentials, setSubaccount } from "./api.js";
import { esc } from "./format.js";
import { ws } from "./ws.js";
import * as trade from "./trade.js";
import * as wallet from "./wallet.js";
import * as risk from "./risk.js";
import * as products from "./products.js";
import * as operator from "./operator.js";

const PAGES = { trade, wallet, products, risk, operator };
const $ = (id) => document.getElementById(id);
let unmount = null;

function route() {
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1];
  const page = PAGES[name] ? name : "trade";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (unmount) unmount();
  const main = $("main");
  main.innerHTML = "";
  main.dataset.page = page;
  unmount = PAGES[page].mount(main, location.hash.split("/").slice(2));
}

async function showSession() {
  const c = credentials();
  $("login-open").hidden = !!c;
  $("logout").hidden = !c;
  $("who").textContent = c ? (c.label || `key ${c.key.slice(0, 6)}…`) : "";
  const label = document.querySelector(".sub-label");
  if (!c) { label.hidden = true; return; }
  try {
    const subs = await privGet("/api/subaccounts", "");
    const select = $("subaccount");
    select.innerHTML = `<option value="">main</option>` +
      subs.map((s) => `<option value="${esc(s.nickname)}">${esc(s.nickname)}</option>`).join("");
    select.value = c.sub || "";
    label.hidden = false;
  } catch (e) {
    label.hidden = true; // a key scoped to one subaccount cannot list them
  }
}

async function demoLogin() {
  $("login-error").textContent = "";
  try {
    const demo = await get("/ui/demo");
    setCredentials({ key: demo.apiKey, secret: demo.apiSecret, sub: "", label: "demo account" });
    $("login").close();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
}

async function keyLogin(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const secret = $("api-secret").value.trim();
  const sub = $("api-sub").value.trim();
  $("login-error").textContent = "";
  if (!key || !secret) { $("login-error").textContent = "Both the key and the secret are needed"; return; }
  const previous = credentials();
  setCredentials({ key, secret, sub, label: `key ${key.slice(0, 6)}…` });
  try {
    await privGet("/api/account");
    $("api-secret").value = "";
    $("login").close();
  } catch (e) {
    setCredentials(previous);
    $("login-error").textContent = e instanceof ApiError ? e.message : String(e);
  }
}

function init() {
  $("login-open").addEventListener("click", () => $("login").showModal());
  $("login-cancel").addEventListener("click", () => $("login").close());
  $("demo-login").addEventListener("click", demoLogin);
  $("login-form").addEventListener("submit", keyLogin);
  $("logout").addEventListener("click", () => setCredentials(null));
  $("subaccount").addEventListener("change", (e) => setSubaccount(e.target.value));
  const local = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
  $("demo-login").hidden = !local;
  $("demo-note").textContent = local
    ? "The demo account is the one `backstop serve` prints at start-up, offered to this machine only."
    : "From another machine, paste an API key (make one with `backstop keys` or the operator API).";
  onCredentials(() => { showSession(); ws.relogin(); route(); });
  onOperator(() => { if (location.hash.startsWith("#/risk")) route(); });
  window.addEventListener("hashchange", route);
  showSession();
  ws.connect();
  route();
}

init();
