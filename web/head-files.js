// The head's files: the GLB's bytes (kept for the few heads used last, shared by every element on the page)
// and the calibration sidecar beside it.

import * as THREE from "three";
import { sidecarUrl } from "./avatar-names.js";

// GLB bytes by absolute URL, the GLB_CACHE_SIZE used most recently: another element, a persona switch back
// or a reconnect reuses them without a request (the HTTP cache would still revalidate), while a page that
// goes through many heads keeps only a few (each is megabytes). A failed load is not kept.
const GLB_CACHE_SIZE = 2;
const glbCache = new Map(); // url -> {bytes: Promise<ArrayBuffer>, listeners: Set, last: [loaded, total]}

/**
 * The GLB's bytes, through three's FileLoader (progress from Content-Length) or the page's cache. A caller
 * that finds the download already in flight follows its progress too, from where it has got to.
 */
export async function fetchGlb(url, onProgress) {
  const key = new URL(url, document.baseURI).href;
  let entry = glbCache.get(key);
  if (entry) {
    glbCache.delete(key); // re-inserted below: the most recently used is last
  } else {
    entry = { bytes: null, listeners: new Set(), last: null };
    const loader = new THREE.FileLoader().setResponseType("arraybuffer");
    const progress = (e) => {
      entry.last = [e.loaded, e.lengthComputable ? e.total : 0];
      for (const listener of entry.listeners) listener(...entry.last);
    };
    entry.bytes = new Promise((resolve, reject) => loader.load(key, resolve, progress, reject));
    entry.bytes.catch(() => glbCache.get(key) === entry && glbCache.delete(key));
  }
  glbCache.set(key, entry);
  while (glbCache.size > GLB_CACHE_SIZE) glbCache.delete(glbCache.keys().next().value);
  if (onProgress) {
    entry.listeners.add(onProgress);
    if (entry.last) onProgress(...entry.last);
  }
  try {
    const buffer = await entry.bytes;
    onProgress?.(buffer.byteLength, buffer.byteLength);
    return buffer;
  } finally {
    entry.listeners.delete(onProgress);
  }
}

/** The calibration sidecar's JSON beside a GLB, or null when there is none (a 404 is normal) or it is bad. */
export async function fetchCalibration(glbUrl) {
  try {
    const response = await fetch(sidecarUrl(glbUrl));
    return response.ok ? await response.json() : null;
  } catch (err) {
    console.warn(`mien-avatar: ignoring the calibration beside ${glbUrl}: ${err?.message ?? err}`);
    return null;
  }
}
