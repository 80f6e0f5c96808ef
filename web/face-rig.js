// How a frame moves one head: the server's channels bound to the model's morph targets (by the naming rule
// of avatar-names.js, each scaled and offset by the calibration sidecar), and the head turn, about a joint
// named "head" or, when the model has none, about a pivot low in the head that turns the whole model.

import * as THREE from "three";
import { bindTargets, parseCalibration } from "./avatar-names.js";

const HEAD_BONE = "head";
// Head channels (names from the server's hello) in the order of the rotation they drive: yaw, pitch, roll.
const HEAD_AXES = ["headYaw", "headPitch", "headRoll"];

export class FaceRig {
  /** The group the model hangs from; it turns the whole model when there is no head joint. */
  pivot = new THREE.Group();
  #model = null;
  #head = null; // {bone, rest, parent, parentInv} when the GLB has a head joint
  #bindings = []; // per mesh: {mesh, pairs: Int16Array [wireIndex, morphIndex, ...], gain, offset per pair}
  #calibration = null; // the sidecar's JSON, or null
  #missingReported = false; // missing shapes are reported by the first bind() after a load only
  #headChannels = null; // wire indices of headYaw, headPitch, headRoll (or -1)
  #euler = new THREE.Euler(0, 0, 0, "YXZ"); // scratch, reused every frame
  #turned = { yaw: 0, pitch: 0, roll: 0 }; // the head turn last drawn (radians)
  #turn = new THREE.Quaternion();

  /** Rig a newly loaded model, already under `pivot` with its world matrices current. */
  attach(model, calibration) {
    this.#calibration = calibration;
    this.#missingReported = false;
    model.traverse((obj) => {
      if (obj.isBone && obj.name === HEAD_BONE && this.#head === null) this.#head = { bone: obj };
    });
    this.#model = model;
    this.#placePivot();
    if (this.#head) this.#captureRest();
  }

  /** Forget the model (its owner frees it). */
  detach() {
    this.#calibration = null;
    this.#model = this.#head = this.#headChannels = null;
    this.#bindings = [];
    this.pivot.position.set(0, 0, 0);
    this.pivot.quaternion.identity();
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
      this.pivot.quaternion.copy(turn);
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
    this.pivot.position.copy(neck);
    this.#model.position.sub(neck);
    this.#model.updateMatrixWorld(true);
  }
}
