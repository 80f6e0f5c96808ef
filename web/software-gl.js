// What a CPU rasterizer (SwiftShader, llvmpipe: headless browsers, machines without a GPU driver) is given
// instead of the full look, chosen once per page: see Face. Measured with `python -m bench.render`.

import * as THREE from "three";

/** The WebGL implementation's name (the unmasked one where the browser gives it). */
export function rendererName(gl) {
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

let software = null;

/**
 * Whether this browser's WebGL is a CPU rasterizer, asked once of a throwaway context (the real one's
 * attributes, antialiasing above all, must be chosen before it exists). False when WebGL is missing.
 * A page may decide instead with `globalThis.mienSoftwareGL = true | false` (the render benchmark's
 * `--full-look` draws the full look in software to compare).
 */
export function softwareGL() {
  if (typeof globalThis.mienSoftwareGL === "boolean") return globalThis.mienSoftwareGL;
  if (software !== null) return software;
  const gl = document.createElement("canvas").getContext("webgl2");
  software = !!gl && /swiftshader|llvmpipe|softpipe|software|basic render/i.test(rendererName(gl));
  gl?.getExtension("WEBGL_lose_context")?.loseContext();
  return software;
}

/**
 * Blinn-Phong in place of the GLB's metal-rough PBR for non-metallic materials without roughness or metal
 * maps (skin, eyes, teeth): about 40 % cheaper per pixel in SwiftShader. Shininess follows the usual
 * GGX-to-Phong match (2/α² − 2, α = roughness²); the specular colour is a dielectric's 4 % reflectance.
 */
export function cheaperMaterial(material) {
  if (!material?.isMeshStandardMaterial || material.isMeshPhysicalMaterial) return material;
  if (material.metalness > 0 || material.metalnessMap || material.roughnessMap) return material;
  const alpha = Math.max(0.05, material.roughness) ** 2;
  const phong = new THREE.MeshPhongMaterial({
    name: material.name,
    color: material.color,
    map: material.map,
    normalMap: material.normalMap,
    normalScale: material.normalScale,
    aoMap: material.aoMap,
    emissive: material.emissive,
    emissiveMap: material.emissiveMap,
    alphaMap: material.alphaMap,
    vertexColors: material.vertexColors,
    transparent: material.transparent,
    opacity: material.opacity,
    alphaTest: material.alphaTest,
    side: material.side,
    depthWrite: material.depthWrite,
    specular: new THREE.Color(0.04, 0.04, 0.04),
    shininess: Math.min(1000, 2 / (alpha * alpha) - 2),
  });
  material.dispose();
  return phong;
}
