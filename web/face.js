// The three.js side of the avatar: a portrait-lit scene, the head GLB, and applying one frame of channel
// values (ARKit blendshape weights + head rotation) to it. Knows no blendshape names: `bind()` receives the
// server's channel names and maps them onto whatever morph targets the GLB has, by the naming rule of
// avatar-names.js (so `blendShape1.mouthSmile_L` drives mouthSmileLeft). A calibration sidecar beside the GLB
// (`face.calibration.json` for `face.glb`) scales and offsets each shape for this avatar only.

import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { bindTargets, parseCalibration } from "./avatar-names.js";
import { deformOnCpu } from "./deform.js";
import { fetchCalibration, fetchGlb } from "./head-files.js";
import { cheaperMaterial, rendererName, softwareGL } from "./software-gl.js";

const FOV_DEG = 22; // a longish "portrait lens": less perspective distortion than a wide angle
const HEAD_BONE = "head";
// Head channels (names from the server's hello) in the order of the rotation they drive: yaw, pitch, roll.
const HEAD_AXES = ["headYaw", "headPitch", "headRoll"];

/** Every live Face, for inspection (tests, devtools): `(await import("/web/face.js")).liveFaces`. */
export const liveFaces = new Set();

export class Face {
  #renderer;
  #scene = new THREE.Scene();
  #camera = new THREE.PerspectiveCamera(FOV_DEG, 1, 0.01, 20);
  #model = null; // the GLB's scene
  #pivot = new THREE.Group(); // turns the whole model when it has no head bone
  #head = null; // {bone, rest, parent, parentInv} when the GLB has a head joint
  #bindings = []; // per mesh: {mesh, pairs: Int16Array [wireIndex, morphIndex, ...], gain, offset per pair}
  #calibration = null; // the sidecar's JSON, or null
  #missingReported = false; // missing shapes are reported by the first bind() after a load only
  #headChannels = null; // wire indices of headYaw, headPitch, headRoll (or -1)
  #frame = null; // {target, height, width}: what the camera must show
  #dirty = true;
  #euler = new THREE.Euler(0, 0, 0, "YXZ"); // scratch, reused every frame
  #turned = { yaw: 0, pitch: 0, roll: 0 }; // the head turn last drawn (radians)
  #turn = new THREE.Quaternion();
  #software = false;
  #deformers = []; // CpuDeformer per morphing/skinned mesh, in software rendering only

  /**
   * Throws when WebGL is unavailable. `software` (default: detected) picks the CPU rasterizer's settings:
   * no multisampling, pixel ratio 1, morphs and skin in JavaScript, Blinn-Phong materials.
   */
  constructor(canvas, { software = softwareGL() } = {}) {
    // A CPU rasterizer (SwiftShader, llvmpipe) is given what it draws fastest: no multisampling (it
    // cost ~40 % of a frame), one sample per CSS pixel, and morphs and skin evaluated in JavaScript.
    this.#software = software;
    this.#renderer = new THREE.WebGLRenderer({ canvas, antialias: !this.#software, alpha: true });
    this.#renderer.setPixelRatio(this.#software ? 0.75 : Math.min(globalThis.devicePixelRatio || 1, 2));
    this.#renderer.outputColorSpace = THREE.SRGBColorSpace;
    this.#renderer.toneMapping = THREE.ACESFilmicToneMapping;
    this.#renderer.toneMappingExposure = 0.9;
    this.#renderer.setClearColor(0x000000, 0); // the page's backdrop shows through
    this.#scene.add(this.#pivot);
    this.#light();
    liveFaces.add(this);
  }

  /** Soft portrait lighting: sky/ground ambient, a warm key from upper left, a cool fill, a rim. */
  #light() {
    // No environment map: it doubled the cost of a frame under software rendering for little visible gain.
    const scene = this.#scene;
    scene.add(new THREE.HemisphereLight(0xfff1e6, 0x241c19, 0.5));
    const key = new THREE.DirectionalLight(0xffe6d0, 2.5);
    key.position.set(-1.3, 1.3, 2.0);
    const fill = new THREE.DirectionalLight(0xd6e2ff, 0.8);
    fill.position.set(1.8, 0.0, 1.2);
    const rim = new THREE.DirectionalLight(0xfff8f0, 1.6);
    rim.position.set(1.0, 1.4, -2.0);
    scene.add(key, fill, rim);
  }

  /**
   * Load (or replace) the head and its calibration sidecar, if any; true once it is shown. Call `bind()`
   * again afterwards. `onProgress(loaded, total)` follows the download (total 0 when the server gives no
   * length). `isCurrent()` is asked once the GLB is downloaded and parsed: when a newer load superseded this
   * one it answers false, and the parsed head is thrown away (false returned) without touching the scene.
   */
  async load(url, onProgress = null, isCurrent = () => true) {
    const [buffer, calibration] = await Promise.all([fetchGlb(url, onProgress), fetchCalibration(url)]);
    if (!isCurrent()) return false;
    const gltf = await new GLTFLoader().parseAsync(buffer, THREE.LoaderUtils.extractUrlBase(url));
    if (!isCurrent()) {
      disposeModel(gltf.scene);
      return false;
    }
    this.#unload();
    this.#calibration = calibration;
    this.#missingReported = false;
    const model = gltf.scene;
    this.#pivot.add(model);
    model.updateMatrixWorld(true);
    if (this.#software) {
      this.#deformers = deformOnCpu(model);
      model.traverse((obj) => {
        if (!obj.isMesh) return;
        const { material } = obj;
        obj.material = Array.isArray(material) ? material.map(cheaperMaterial) : cheaperMaterial(material);
      });
    }
    model.traverse((obj) => {
      if (obj.isMesh) obj.frustumCulled = false; // morphs and the head turn move it past its bind bounds
      if (obj.isBone && obj.name === HEAD_BONE && this.#head === null) this.#head = { bone: obj };
    });
    this.#model = model;
    this.#placePivot();
    if (this.#head) this.#captureRest();
    this.#frameCamera();
    this.#dirty = true;
    return true;
  }

  /**
   * Map the server's channel order onto the model, once per session: for every mesh with morph targets, the
   * pairs (wire index -> morph index) its morph names map to, each with its calibration. Returns the
   * blendshape names no mesh has, the first time after a load (so they are reported once); [] afterwards.
   */
  bind(blendshapeNames, headChannelNames) {
    this.#bindings = [];
    const found = new Set();
    const cal = parseCalibration(this.#calibration, blendshapeNames);
    if (cal.unknown.length && !this.#missingReported) {
      console.warn(`mien-avatar: calibration entries ignored (no such shape): ${cal.unknown.join(", ")}`);
    }
    this.#model?.traverse((obj) => {
      const dict = obj.morphTargetDictionary;
      if (!dict || !obj.morphTargetInfluences) return;
      const pairs = [];
      const gain = [];
      const offset = [];
      for (const [wire, morphs] of bindTargets(dict, blendshapeNames)) {
        const name = blendshapeNames[wire];
        found.add(name);
        for (const morph of morphs) {
          pairs.push(wire, morph);
          gain.push(cal.gain.get(name) ?? 1);
          offset.push(cal.offset.get(name) ?? 0);
        }
      }
      if (pairs.length) {
        this.#bindings.push({
          mesh: obj,
          pairs: Int16Array.from(pairs),
          gain: Float32Array.from(gain),
          offset: Float32Array.from(offset),
        });
      }
    });
    const offset = blendshapeNames.length;
    this.#headChannels = HEAD_AXES.map((name) => {
      const i = headChannelNames.indexOf(name);
      return i < 0 ? -1 : offset + i;
    });
    if (this.#missingReported) return [];
    this.#missingReported = true;
    return blendshapeNames.filter((name) => !found.has(name));
  }

  /** Show one frame: `values` holds every channel in wire order (blendshapes, then head channels). */
  apply(values) {
    for (const { mesh, pairs, gain, offset } of this.#bindings) {
      const influences = mesh.morphTargetInfluences;
      for (let k = 0; k < pairs.length; k += 2) {
        const w = gain[k >> 1] * values[pairs[k]] + offset[k >> 1];
        influences[pairs[k + 1]] = w < 0 ? 0 : w > 1 ? 1 : w;
      }
    }
    if (this.#headChannels) {
      const [y, p, r] = this.#headChannels.map((i) => (i < 0 ? 0 : values[i]));
      this.#turnHead(y, p, r);
    }
    this.#dirty = true;
  }

  resize(width, height) {
    if (width < 1 || height < 1) return;
    this.#renderer.setSize(width, height, false);
    this.#camera.aspect = width / height;
    this.#frameCamera();
    this.#dirty = true;
  }

  /** Draw if anything changed since the last draw. */
  render() {
    if (!this.#dirty) return;
    this.#dirty = false;
    this.#draw();
  }

  #draw() {
    if (this.#deformers.length) {
      this.#scene.updateMatrixWorld(); // the head bone's pose, for the skin
      for (const deformer of this.#deformers) deformer.update();
    }
    this.#renderer.render(this.#scene, this.#camera);
  }

  dispose() {
    this.#unload();
    this.#renderer.dispose();
    liveFaces.delete(this);
  }

  /** Frames drawn so far (cheap; read every animation frame by the render benchmark). */
  get drawn() {
    return this.#renderer.info.render.frame;
  }

  /**
   * Drawing counters (for the render benchmark and tests): frames drawn, the last draw's calls and
   * triangles, the canvas size in device pixels, and the model's vertex and morph-target counts.
   */
  stats() {
    const { render } = this.#renderer.info;
    const size = this.#renderer.getDrawingBufferSize(new THREE.Vector2());
    let vertices = 0;
    let morphTargets = 0;
    let activeMorphs = 0; // non-zero influences on the mesh with the most (the shader skips zeros)
    this.#model?.traverse((obj) => {
      if (!obj.isMesh) return;
      vertices += obj.geometry.attributes.position.count;
      const influences = obj.morphTargetInfluences ?? [];
      morphTargets = Math.max(morphTargets, influences.length);
      activeMorphs = Math.max(activeMorphs, influences.filter((w) => w !== 0).length);
    });
    return {
      frames: render.frame,
      calls: render.calls,
      triangles: render.triangles,
      width: size.x,
      height: size.y,
      vertices,
      morphTargets,
      activeMorphs,
      renderer: rendererName(this.#renderer.getContext()),
      cpuDeform: this.#deformers.length > 0,
      antialias: this.#renderer.getContext().getContextAttributes().antialias,
    };
  }

  /** Draw now and wait for the GPU to finish (a 1-pixel read back): one frame's true cost (benchmark). */
  drawSync() {
    this.#draw();
    const gl = this.#renderer.getContext();
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
  }

  /** The head turn now drawn, {yaw, pitch, roll} in radians (for inspection). */
  headTurn() {
    return { ...this.#turned };
  }

  /** Morph influences now shown, per mesh with morph targets: [{mesh: name, morphs: {morphName: value}}]. */
  influences() {
    const out = [];
    this.#model?.traverse((obj) => {
      if (!obj.morphTargetDictionary || !obj.morphTargetInfluences) return;
      const morphs = {};
      for (const [name, i] of Object.entries(obj.morphTargetDictionary)) {
        morphs[name] = obj.morphTargetInfluences[i];
      }
      out.push({ mesh: obj.name, morphs });
    });
    return out;
  }

  #unload() {
    this.#calibration = null;
    if (this.#model) disposeModel(this.#model);
    this.#model = this.#head = this.#frame = this.#headChannels = null;
    this.#bindings = [];
    this.#deformers = [];
    this.#pivot.position.set(0, 0, 0);
    this.#pivot.quaternion.identity();
  }

  // ------------------------------------------------------------------ head rotation

  // Head channels are in the subject's frame with the face looking toward +z (glTF's convention): +yaw turns
  // to the subject's left (+y rotation), +pitch nods down (+x), +roll tilts to the right shoulder (+z).
  #turnHead(yaw, pitch, roll) {
    this.#turned = { yaw, pitch, roll };
    const turn = this.#turn.setFromEuler(this.#euler.set(pitch, yaw, roll));
    if (this.#head) {
      // Rotate the bone about its own pivot but along the model's axes, whatever the bone's local frame.
      const { bone, rest, parent, parentInv } = this.#head;
      bone.quaternion.copy(parentInv).multiply(turn).multiply(parent).multiply(rest);
    } else {
      this.#pivot.quaternion.copy(turn);
    }
  }

  #captureRest() {
    const bone = this.#head.bone;
    const parent = new THREE.Quaternion();
    bone.parent.getWorldQuaternion(parent);
    this.#head.rest = bone.quaternion.clone();
    this.#head.parent = parent;
    this.#head.parentInv = parent.clone().invert();
  }

  /** Without a head bone the whole model turns, about a point low in the head (roughly the top of the neck). */
  #placePivot() {
    if (this.#head) return;
    const box = new THREE.Box3().setFromObject(this.#model);
    const size = box.getSize(new THREE.Vector3());
    const neck = new THREE.Vector3(
      (box.min.x + box.max.x) / 2,
      box.min.y + size.y * 0.3,
      (box.min.z + box.max.z) / 2 - size.z * 0.1,
    );
    this.#pivot.position.copy(neck);
    this.#model.position.sub(neck);
    this.#model.updateMatrixWorld(true);
  }

  // ------------------------------------------------------------------ framing

  /**
   * Head and shoulders: the whole head with a little headroom, down the neck to just above the mesh's cut
   * edge; on narrow (portrait) views the width fits too. The eye line ends up a bit above the middle.
   */
  #frameCamera() {
    if (!this.#model) return;
    if (!this.#frame) {
      const box = new THREE.Box3().setFromObject(this.#model);
      const size = box.getSize(new THREE.Vector3());
      const top = box.max.y + size.y * 0.06;
      const bottom = box.min.y + size.y * 0.1;
      const center = box.getCenter(new THREE.Vector3());
      const target = new THREE.Vector3(center.x, (top + bottom) / 2, center.z);
      this.#frame = { target, height: top - bottom, width: size.x * 1.15 };
    }
    const { target, height, width } = this.#frame;
    const tan = Math.tan(THREE.MathUtils.degToRad(FOV_DEG / 2));
    const distance = Math.max(height / 2 / tan, width / 2 / (tan * this.#camera.aspect));
    // Slightly above the target, looking a touch down: a flattering, conversational eye line.
    this.#camera.position.set(target.x, target.y + distance * 0.06, target.z + distance);
    this.#camera.lookAt(target);
    this.#camera.near = distance / 20;
    this.#camera.far = distance * 20;
    this.#camera.updateProjectionMatrix();
  }
}

/** Free a head's GPU resources (geometry, materials, their textures) and take it out of its scene. */
function disposeModel(model) {
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
