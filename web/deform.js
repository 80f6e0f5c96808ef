// Morph targets and skinning on the CPU, for software WebGL (SwiftShader, llvmpipe). three.js evaluates
// morphs in the vertex shader, one texture fetch per vertex per target, and skins with four more; on a CPU
// rasterizer that is most of a frame (the ICT head: ~24 ms morphs + ~12 ms skin of ~60 ms at 640×480).
// Here each target keeps only the vertices it moves (the GLB's targets are sparse), only influences that
// are not ~0 are added, and the joints' matrices blend per vertex, so a frame costs a few ms of JavaScript
// and the GPU draws plain static-shader meshes. The result is the same geometry three.js would draw.

import * as THREE from "three";

// Influences below this are skipped: on a ~25 cm head a target moves at most a few cm, so < 0.03 mm.
const MIN_INFLUENCE = 1e-3;

/** True when WebGL is a CPU rasterizer, where morphing and skinning in shaders cost the most. */
/**
 * Replace every mesh under `root` that has morph targets or a skin by a plain Mesh with the same geometry,
 * material, names, `morphTargetDictionary` and `morphTargetInfluences` (so code that sets influences keeps
 * working), whose vertices a CpuDeformer moves. Returns the deformers; call `update()` on each before a draw.
 */
export function deformOnCpu(root) {
  const found = [];
  root.traverse((obj) => {
    const morphs = obj.geometry?.morphAttributes?.position;
    if (obj.isMesh && (morphs?.length || obj.isSkinnedMesh)) found.push(obj);
  });
  return found.map((mesh) => {
    const deformer = new CpuDeformer(mesh);
    mesh.parent.add(deformer.mesh);
    mesh.removeFromParent();
    return deformer;
  });
}

export class CpuDeformer {
  /** The plain Mesh that replaces the original in the scene. */
  mesh;
  #influences;
  #base; // Float32Array of rest positions (x, y, z per vertex)
  #baseNormals = null;
  #position; // the dynamic attribute drawn
  #normal = null;
  #targets = []; // per morph target: {index: Uint32Array of vertices, delta: Float32Array (x, y, z each)}
  #skin = null; // {source, joints: Uint16Array, weights: Float32Array, matrices: Float32Array (12 per joint)}
  #scratch = new THREE.Matrix4();
  #unbind = new THREE.Matrix4();

  constructor(source) {
    const geometry = source.geometry.clone();
    const position = geometry.getAttribute("position");
    this.#base = toFloat32(position);
    this.#position = new THREE.BufferAttribute(new Float32Array(this.#base), 3);
    this.#position.setUsage(THREE.DynamicDrawUsage);
    geometry.setAttribute("position", this.#position);
    const relative = geometry.morphTargetsRelative; // glTF's are; absolute targets become offsets here
    for (const target of geometry.morphAttributes.position ?? []) {
      this.#targets.push(sparse(target, relative ? null : this.#base));
    }
    // The GLB's morphs are position-only; morphed normals would need their own targets.
    geometry.morphAttributes = {};
    if (source.isSkinnedMesh) {
      const normal = geometry.getAttribute("normal");
      if (normal) {
        this.#baseNormals = toFloat32(normal);
        this.#normal = new THREE.BufferAttribute(new Float32Array(this.#baseNormals), 3);
        this.#normal.setUsage(THREE.DynamicDrawUsage);
        geometry.setAttribute("normal", this.#normal);
      }
      this.#skin = skinData(source, geometry);
      geometry.deleteAttribute("skinIndex");
      geometry.deleteAttribute("skinWeight");
    }
    // At rest, as SkinnedMesh bounds itself (the loader's box also holds every morph's reach): framing.
    geometry.computeBoundingBox();
    geometry.computeBoundingSphere();
    const mesh = new THREE.Mesh(geometry, source.material);
    mesh.name = source.name;
    mesh.position.copy(source.position);
    mesh.quaternion.copy(source.quaternion);
    mesh.scale.copy(source.scale);
    mesh.frustumCulled = false; // morphs and the head turn move it past its rest bounds
    mesh.renderOrder = source.renderOrder;
    mesh.morphTargetDictionary = source.morphTargetDictionary ?? {};
    this.#influences = mesh.morphTargetInfluences = source.morphTargetInfluences ?? [];
    this.mesh = mesh;
  }

  /** Move the vertices to the current influences and joint poses (call after matrixWorld updates). */
  update() {
    const pos = this.#position.array;
    pos.set(this.#base);
    const influences = this.#influences;
    for (let t = 0; t < this.#targets.length; t++) {
      const w = influences[t];
      if (!(w > MIN_INFLUENCE || w < -MIN_INFLUENCE)) continue;
      const { index, delta } = this.#targets[t];
      for (let k = 0, d = 0; k < index.length; k++, d += 3) {
        const i = index[k] * 3;
        pos[i] += w * delta[d];
        pos[i + 1] += w * delta[d + 1];
        pos[i + 2] += w * delta[d + 2];
      }
    }
    if (this.#skin) this.#applySkin(pos);
    this.#position.needsUpdate = true;
  }

  /**
   * Linear blend skinning as three.js's shader does it, in the mesh's own space: for joint j,
   * K_j = bindMatrixInverse · boneWorld_j · boneInverse_j · bindMatrix, and a vertex moves by Σ w_j K_j.
   */
  #applySkin(pos) {
    const { source, joints, weights, matrices } = this.#skin;
    const { bones, boneInverses } = source.skeleton;
    const m = this.#scratch;
    // "attached" (glTF's): the bind space follows the mesh, as SkinnedMesh.updateMatrixWorld does it.
    const unbind = source.bindMode === THREE.AttachedBindMode
      ? this.#unbind.copy(this.mesh.matrixWorld).invert()
      : source.bindMatrixInverse;
    for (let j = 0; j < bones.length; j++) {
      m.multiplyMatrices(bones[j].matrixWorld, boneInverses[j]);
      m.premultiply(unbind).multiply(source.bindMatrix);
      const e = m.elements; // column-major; keep the 3×4 part row by row
      matrices.set([e[0], e[4], e[8], e[12], e[1], e[5], e[9], e[13], e[2], e[6], e[10], e[14]], j * 12);
    }
    const base = this.#baseNormals;
    const nrm = this.#normal?.array;
    const b = new Float32Array(12);
    for (let v = 0, v3 = 0, v4 = 0; v3 < pos.length; v++, v3 += 3, v4 += 4) {
      b.fill(0);
      for (let s = 0; s < 4; s++) {
        const w = weights[v4 + s];
        if (w === 0) continue;
        const o = joints[v4 + s] * 12;
        for (let c = 0; c < 12; c++) b[c] += w * matrices[o + c];
      }
      const x = pos[v3];
      const y = pos[v3 + 1];
      const z = pos[v3 + 2];
      pos[v3] = b[0] * x + b[1] * y + b[2] * z + b[3];
      pos[v3 + 1] = b[4] * x + b[5] * y + b[6] * z + b[7];
      pos[v3 + 2] = b[8] * x + b[9] * y + b[10] * z + b[11];
      if (nrm) {
        const nx = base[v3];
        const ny = base[v3 + 1];
        const nz = base[v3 + 2];
        nrm[v3] = b[0] * nx + b[1] * ny + b[2] * nz;
        nrm[v3 + 1] = b[4] * nx + b[5] * ny + b[6] * nz;
        nrm[v3 + 2] = b[8] * nx + b[9] * ny + b[10] * nz;
      }
    }
    if (this.#normal) this.#normal.needsUpdate = true;
  }
}

/** An attribute's values as plain floats (dequantizing normalized integers, KHR_mesh_quantization). */
function toFloat32(attribute) {
  const out = new Float32Array(attribute.count * 3);
  for (let i = 0; i < attribute.count; i++) {
    out[i * 3] = attribute.getX(i);
    out[i * 3 + 1] = attribute.getY(i);
    out[i * 3 + 2] = attribute.getZ(i);
  }
  return out;
}

/** A (relative) morph target as the vertices it moves and their offsets. */
function sparse(target, base) {
  const dense = toFloat32(target);
  if (base) for (let i = 0; i < dense.length; i++) dense[i] -= base[i];
  const index = [];
  for (let i = 0; i < target.count; i++) {
    if (dense[i * 3] !== 0 || dense[i * 3 + 1] !== 0 || dense[i * 3 + 2] !== 0) index.push(i);
  }
  const delta = new Float32Array(index.length * 3);
  index.forEach((i, k) => delta.set(dense.subarray(i * 3, i * 3 + 3), k * 3));
  return { index: Uint32Array.from(index), delta };
}

function skinData(source, geometry) {
  const skinIndex = geometry.getAttribute("skinIndex");
  const skinWeight = geometry.getAttribute("skinWeight");
  const joints = new Uint16Array(skinIndex.count * 4);
  const weights = new Float32Array(skinIndex.count * 4);
  for (let i = 0; i < skinIndex.count; i++) {
    for (let s = 0; s < 4; s++) {
      joints[i * 4 + s] = skinIndex.getComponent(i, s);
      weights[i * 4 + s] = skinWeight.getComponent(i, s); // dequantized when normalized
    }
  }
  const matrices = new Float32Array(source.skeleton.bones.length * 12);
  return { source, joints, weights, matrices };
}
