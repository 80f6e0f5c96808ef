// Which ARKit channel a morph target drives, from its name: the rule animation/avatar.py documents and
// implements in Python (the shared test vectors are tests/models/avatar_names.json). In short: exact names;
// `_L`/`.R` sides -> Left/Right; namespaces (`blendShape1.`, `rig:`) and codes (`A01_`) dropped; compared
// without `_`, `-`, spaces and case; a half of a shape ARKit does not split (`browInnerUp_L`) drives it whole.

const SIDE = /[._\-\s]([lr])$/i;
const NAMESPACE = /^.*[.:|/]/;
const CODE = /^[A-Za-z]?\d+_/;
const SEPARATORS = /[_\-\s]/g;

const key = (name) => name.replace(SEPARATORS, "").toLowerCase();

const lookups = new WeakMap(); // names array -> Map(key -> name), built once per list

function lookupFor(names) {
  let map = lookups.get(names);
  if (!map) {
    map = new Map(names.map((n) => [key(n), n]));
    lookups.set(names, map);
  }
  return map;
}

/** The name in `names` (the server's channel names) that a morph target called `raw` drives, or null. */
export function arkitName(raw, names) {
  if (names.includes(raw)) return raw;
  let s = raw.trim();
  const side = SIDE.exec(s);
  if (side) s = s.slice(0, side.index) + (side[1].toLowerCase() === "l" ? "Left" : "Right");
  s = s.replace(NAMESPACE, "").replace(CODE, "");
  const lookup = lookupFor(names);
  const k = key(s);
  if (lookup.has(k)) return lookup.get(k);
  for (const suffix of ["left", "right"]) {
    const unsided = k.slice(0, -suffix.length);
    if (k.endsWith(suffix) && lookup.has(unsided)) return lookup.get(unsided);
  }
  return null;
}

/**
 * For one mesh's morphTargetDictionary: channel index (into `names`) -> morph indices it drives. Within a mesh
 * an exact name wins over variants that map to the same channel.
 */
export function bindTargets(dictionary, names) {
  const exact = new Map();
  const variant = new Map();
  for (const [raw, morph] of Object.entries(dictionary)) {
    const name = arkitName(raw, names);
    if (name === null) continue;
    const into = raw === name ? exact : variant;
    const channel = names.indexOf(name);
    if (!into.has(channel)) into.set(channel, []);
    into.get(channel).push(morph);
  }
  for (const [channel, morphs] of exact) variant.set(channel, morphs);
  return variant;
}

/** `models/face.glb` -> `models/face.calibration.json` (query and hash dropped). */
export function sidecarUrl(glbUrl) {
  const url = new URL(glbUrl, globalThis.location?.href);
  url.search = "";
  url.hash = "";
  url.pathname = url.pathname.replace(/(\.(glb|gltf))?$/i, ".calibration.json");
  return url.href;
}

/** Gain and offset per channel name from a calibration sidecar's JSON (keys normalised like morph names). */
export function parseCalibration(json, names) {
  const gain = new Map();
  const offset = new Map();
  const unknown = [];
  for (const [field, into] of [
    ["gain", gain],
    ["offset", offset],
  ]) {
    for (const [raw, value] of Object.entries(json?.[field] ?? {})) {
      const name = arkitName(raw, names);
      if (name === null || typeof value !== "number" || !Number.isFinite(value)) unknown.push(raw);
      else into.set(name, value);
    }
  }
  return { gain, offset, unknown };
}
