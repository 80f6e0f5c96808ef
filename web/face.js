// The three.js side of the avatar: a portrait-lit scene with the camera framing the head, the head GLB
// (head-model.js) prepared for the renderer, and drawing. Knows no blendshape names: `bind()` and `apply()`
// go to the FaceRig (face-rig.js), which maps the server's channel names onto whatever morph targets the
// GLB has, with the calibration sidecar beside the GLB (`face.calibration.json` for `face.glb`).

import * as THREE from "three";
import { deformOnCpu } from "./deform.js";
import { FaceRig } from "./face-rig.js";
import { disposeModel, loadHead } from "./head-model.js";
import { cheaperMaterial, rendererName, softwareGL } from "./software-gl.js";

const FOV_DEG = 22; // a longish "portrait lens": less perspective distortion than a wide angle

/** Every live Face, for inspection (tests, devtools): `(await import("/web/face.js")).liveFaces`. */
export const liveFaces = new Set();

export class Face {
  #renderer;
  #scene = new THREE.Scene();
  #camera = new THREE.PerspectiveCamera(FOV_DEG, 1, 0.01, 20);
  #model = null; // the GLB's scene
  #rig = new FaceRig(); // its morphs and head turn
  #frame = null; // {target, height, width}: what the camera must show
  #dirty = true;
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
    this.#scene.add(this.#rig.pivot);
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
    const head = await loadHead(url, onProgress, isCurrent);
    if (!head) return false;
    this.#unload();
    const { model, calibration } = head;
    this.#rig.pivot.add(model);
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
    });
    this.#model = model;
    this.#rig.attach(model, calibration);
    this.#frameCamera();
    this.#dirty = true;
    return true;
  }

  /** Map the server's channels onto the head (FaceRig.bind); returns the shapes it lacks, once per load. */
  bind(blendshapeNames, headChannelNames) {
    return this.#rig.bind(blendshapeNames, headChannelNames);
  }

  /** Show one frame: `values` holds every channel in wire order (blendshapes, then head channels). */
  apply(values) {
    this.#rig.apply(values);
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
    return this.#rig.headTurn();
  }

  /** Morph influences now shown, per mesh with morph targets: [{mesh: name, morphs: {morphName: value}}]. */
  influences() {
    return this.#rig.influences();
  }

  #unload() {
    if (this.#model) disposeModel(this.#model);
    this.#model = this.#frame = null;
    this.#deformers = [];
    this.#rig.detach();
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
