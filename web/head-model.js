// A head as a three.js object: its GLB and calibration sidecar (fetched by head-files.js) parsed into a
// model, and the model freed again with its GPU resources.

import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { fetchCalibration, fetchGlb } from "./head-files.js";

/**
 * The head at `url` as {model, calibration} (the sidecar's JSON, or null). `onProgress(loaded, total)`
 * follows the download. `isCurrent()` is asked once the GLB is downloaded and once it is parsed: when it
 * answers false (a newer load superseded this one) the parsed head is freed and null returned.
 */
export async function loadHead(url, onProgress, isCurrent) {
  const [buffer, calibration] = await Promise.all([fetchGlb(url, onProgress), fetchCalibration(url)]);
  if (!isCurrent()) return null;
  const gltf = await new GLTFLoader().parseAsync(buffer, THREE.LoaderUtils.extractUrlBase(url));
  if (!isCurrent()) {
    disposeModel(gltf.scene);
    return null;
  }
  return { model: gltf.scene, calibration };
}

/** Free a head's GPU resources (geometry, materials, their textures) and take it out of its scene. */
export function disposeModel(model) {
  model.traverse((obj) => {
    obj.geometry?.dispose();
    for (const material of [obj.material].flat()) {
      if (!material) continue;
      for (const value of Object.values(material)) if (value?.isTexture) value.dispose();
      material.dispose();
    }
  });
  model.removeFromParent();
}
