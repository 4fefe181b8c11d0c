// The collection a panel works on: a <select> of every collection, kept in the route.

import { listCollections } from "./api.js";
import { h, select } from "./dom.js";
import { go, link, route } from "./nav.js";

/**
 * Resolves to {collections, current, control}: `current` is the collection named in the route,
 * else the first one (null when there is none); choosing another moves to its route.
 */
export async function pickCollection(panel, name) {
  const collections = await listCollections();
  const current = collections.find((c) => c.name === name) || (name ? null : collections[0]) || null;
  if (!collections.length) {
    return { collections, current, control: h("p", { class: "empty" }, "No collections yet: ", link(route("collections"), "create one"), " first.") };
  }
  if (name && !current) {
    return { collections, current, control: h("p", { class: "error" }, `No collection named ${name}. `, link(route(panel), "Choose another")) };
  }
  const control = select(collections.map((c) => ({ value: c.name, label: `${c.name} (${c.count.toLocaleString("en-US")})` })), current.name, {
    id: "collection-picker",
    "aria-label": "Collection",
    onchange: (event) => go(route(panel, event.target.value)),
  });
  return { collections, current, control: h("label", { class: "picker" }, "Collection ", control) };
}
