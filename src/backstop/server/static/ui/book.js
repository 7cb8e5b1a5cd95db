// The websocket `orderbook` channel's book: a partial, then updates (absolute sizes, 0 removes),
// each followed by FTX's checksum over the top 100 levels per side, which is verified here.
export const DEPTH = 100;

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(text) {
  let c = 0xffffffff;
  for (let i = 0; i < text.length; i++) c = TABLE[(c ^ text.charCodeAt(i)) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A number as FTX's checksum writes it: Python's repr(float(x)) ("39132.0", "0.0962", "5e-05").
export function pyFloat(x) {
  if (x === 0) return "0.0";
  const a = Math.abs(x);
  if (a < 1e-4 || a >= 1e16) {
    const [m, e] = x.toExponential().split("e");
    const sign = e[0] === "-" ? "-" : "+";
    const digits = e.replace(/^[+-]/, "").padStart(2, "0");
    return `${m}e${sign}${digits}`;
  }
  const s = String(x);
  return Number.isInteger(x) ? `${s}.0` : s;
}

export class Book {
  // `stale` until a partial arrives, and again after a checksum mismatch: updates are then ignored
  constructor() { this.bids = new Map(); this.asks = new Map(); this._sorted = null; this.stale = true; }

  apply(data) {
    if (data.action === "partial") { this.bids.clear(); this.asks.clear(); this.stale = false; }
    for (const [price, size] of data.bids || []) size ? this.bids.set(price, size) : this.bids.delete(price);
    for (const [price, size] of data.asks || []) size ? this.asks.set(price, size) : this.asks.delete(price);
    this._sorted = null;
  }

  sorted() {
    if (!this._sorted) {
      const bids = [...this.bids].sort((x, y) => y[0] - x[0]);
      const asks = [...this.asks].sort((x, y) => x[0] - y[0]);
      this._sorted = { bids, asks };
    }
    return this._sorted;
  }

  checksum() {
    const { bids, asks } = this.sorted();
    const b = bids.slice(0, DEPTH);
    const a = asks.slice(0, DEPTH);
    const tokens = [];
    for (let i = 0; i < Math.max(b.length, a.length); i++) {
      if (i < b.length) tokens.push(pyFloat(b[i][0]), pyFloat(b[i][1]));
      if (i < a.length) tokens.push(pyFloat(a[i][0]), pyFloat(a[i][1]));
    }
    return crc32(tokens.join(":"));
  }
}
