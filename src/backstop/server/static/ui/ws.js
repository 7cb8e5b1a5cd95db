// FTX's websocket at /ws: one connection, login with the session's key (for fills and orders),
// subscriptions kept across reconnects, a ping every 15 s as FTX asked of clients.
import { credentials } from "./api.js";
import { hmacHex } from "./hmac.js";

class Socket {
  constructor() {
    this.handlers = new Map(); // "channel|market" -> Set(fn)
    this.socket = null;
    this.open = false;
    this.timer = null;
  }

  key(channel, market) { return `${channel}|${market || ""}`; }

  connect() {
    if (this.socket) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = async () => {
      this.open = true;
      await this.login();
      for (const key of this.handlers.keys()) this.send(this.frame("subscribe", key));
      this.timer = setInterval(() => this.send({ op: "ping" }), 15000);
    };
    // event.timeStamp: when the message reached this page (performance.now()'s clock), for the
    // ladder's delay behind the socket (`backstop bench ui`)
    socket.onmessage = (event) => this.dispatch(JSON.parse(event.data), event.timeStamp || performance.now());
    socket.onclose = () => {
      this.open = false;
      this.socket = null;
      clearInterval(this.timer);
      setTimeout(() => this.connect(), 1000);
    };
  }

  frame(op, key) {
    const [channel, market] = key.split("|");
    return market ? { op, channel, market } : { op, channel };
  }

  send(message) { if (this.open) this.socket.send(JSON.stringify(message)); }

  async login() {
    const c = credentials();
    if (!c || !this.open) return;
    const time = Date.now();
    const sign = await hmacHex(c.secret, `${time}websocket_login`);
    const args = { key: c.key, sign, time };
    if (c.sub) args.subaccount = c.sub;
    this.send({ op: "login", args });
  }

  // A new key or subaccount: log in again and renew the private subscriptions.
  async relogin() {
    await this.login();
    for (const key of this.handlers.keys()) {
      if (key.startsWith("orders|") || key.startsWith("fills|")) {
        this.send(this.frame("unsubscribe", key));
        this.send(this.frame("subscribe", key));
      }
    }
  }

  subscribe(channel, market, fn) {
    const key = this.key(channel, market);
    let set = this.handlers.get(key);
    if (!set) {
      set = new Set();
      this.handlers.set(key, set);
      this.send(this.frame("subscribe", key));
    }
    set.add(fn);
    this.connect();
    return () => this.unsubscribe(channel, market, fn);
  }

  unsubscribe(channel, market, fn) {
    const key = this.key(channel, market);
    const set = this.handlers.get(key);
    if (!set) return;
    set.delete(fn);
    if (!set.size) {
      this.handlers.delete(key);
      this.send(this.frame("unsubscribe", key));
    }
  }

  // Start a channel over (a book whose checksum failed): unsubscribe, subscribe, get a new partial.
  restart(channel, market) {
    const key = this.key(channel, market);
    this.send(this.frame("unsubscribe", key));
    this.send(this.frame("subscribe", key));
  }

  dispatch(message, arrived) {
    if (message.type === "error") {
      if (message.msg !== "Not subscribed" && message.msg !== "Already subscribed") console.warn("websocket:", message.msg);
      return;
    }
    if (!message.channel || (message.type !== "partial" && message.type !== "update")) return;
    const set = this.handlers.get(this.key(message.channel, message.market));
    if (set) for (const fn of set) fn(message, arrived);
  }
}

export const ws = new Socket();
