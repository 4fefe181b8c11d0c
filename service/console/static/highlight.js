// Query terms highlighted in a hit's text, for the eye: the server's own matching (Snowball
// stemming, stopwords, typo tolerance) is approximated by a light suffix-stripping stemmer and,
// when typo tolerance is on, the server's rule for corrections (1 edit for words of 5-8
// letters, 2 from 9, sharing the first or last two letters).

import { h } from "./dom.js";

const WORD = /[\p{L}\p{N}]+/gu;
const STOPWORDS = new Set("a an and are as at be but by for from has have he her his i if in into is it its me my no not of on or our she so than that the their them then there these they this to was we were what when where which who will with you your".split(" "));
const SUFFIXES = ["ational", "ations", "ation", "ements", "ement", "ments", "ment", "nesses", "ness", "ingly", "ings", "ing", "edly", "ions", "ion", "ies", "ied", "ed", "ly", "er", "s"];

export function stem(word) {
  for (const suffix of SUFFIXES) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) {
      const base = word.slice(0, -suffix.length);
      if (suffix === "ies" || suffix === "ied") return `${base}y`;
      // running -> runn -> run, stopped -> stopp -> stop (but not "less", "fall")
      const double = base.length >= 4 && base.at(-1) === base.at(-2) && !"aeioulsz".includes(base.at(-1));
      return double ? base.slice(0, -1) : base;
    }
  }
  return word;
}

/** The query's words worth marking: lower-cased, without (English) stopwords. */
export function queryTerms(query, { language = "english" } = {}) {
  const words = (query.toLowerCase().match(WORD) || []).filter((w) => !(language === "english" && STOPWORDS.has(w)));
  return [...new Set(words)];
}

function withinEdits(a, b, max) {
  if (Math.abs(a.length - b.length) > max) return false;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      best = Math.min(best, current[j]);
    }
    if (best > max) return false;
    previous = current;
  }
  return previous[b.length] <= max;
}

/** A matcher: word -> true when it matches one of the terms. */
export function matcher(terms, { typos = true } = {}) {
  const exact = new Set(terms);
  const stems = new Set(terms.map(stem));
  const fuzzy = typos ? terms.filter((t) => t.length >= 5) : [];
  const cache = new Map();
  return (word) => {
    const w = word.toLowerCase();
    if (cache.has(w)) return cache.get(w);
    let hit = exact.has(w) || stems.has(stem(w));
    if (!hit && w.length >= 5) {
      hit = fuzzy.some((t) => {
        const sameEnds = t.slice(0, 2) === w.slice(0, 2) || t.slice(-2) === w.slice(-2);
        return sameEnds && withinEdits(t, w, t.length >= 9 ? 2 : 1);
      });
    }
    cache.set(w, hit);
    return hit;
  };
}

/** `text` as nodes, with the words `matches` accepts wrapped in <mark>. */
export function highlight(text, matches) {
  const nodes = [];
  let last = 0;
  for (const found of text.matchAll(WORD)) {
    if (!matches(found[0])) continue;
    if (found.index > last) nodes.push(text.slice(last, found.index));
    nodes.push(h("mark", {}, found[0]));
    last = found.index + found[0].length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

/** About `size` characters of `text` around its first match (the whole text when short). */
export function snippet(text, matches, size = 360) {
  if (text.length <= size) return { text, cut: false };
  let first = 0;
  for (const found of text.matchAll(WORD)) {
    if (matches(found[0])) {
      first = found.index;
      break;
    }
  }
  let start = Math.max(0, first - Math.floor(size / 3));
  if (start > 0) start = text.indexOf(" ", start) + 1 || start;
  let end = Math.min(text.length, start + size);
  if (end < text.length) end = text.lastIndexOf(" ", end) > start ? text.lastIndexOf(" ", end) : end;
  return { text: `${start > 0 ? "… " : ""}${text.slice(start, end)}${end < text.length ? " …" : ""}`, cut: true };
}
