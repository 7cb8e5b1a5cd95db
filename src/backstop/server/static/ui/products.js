// The products pages under #/products/...: leveraged tokens, convert (the OTC desk), FTT and the volume token, each
// its own module, switched by links (so each has its own address and works with the keyboard).
import * as lt from "./lt.js";
import * as convert from "./convert.js";
import * as ftt from "./ftt.js";
import * as vol from "./vol.js";

const TABS = [["lt", "Leveraged tokens", lt], ["convert", "Convert", convert], ["ftt", "FTT", ftt], ["vol", "Volume token", vol]];

export function mount(main, args) {
  const found = TABS.find(([name]) => name === args[0]) || TABS[0];
  main.innerHTML = `<nav class="subnav" aria-label="Products">${TABS.map(([name, title]) =>
    `<a href="#/products/${name}"${name === found[0] ? ' aria-current="page"' : ""}>${title}</a>`).join("")}</nav><div id="product"></div>`;
  return found[2].mount(main.querySelector("#product"), args.slice(1));
}
