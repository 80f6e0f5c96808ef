// Emotion colours from the server's pleasure-arousal-dominance coordinates (hello.emotion_info), so the
// colours follow the emotions' meaning rather than their list position, and no name is hard-coded.
//   hue    the angle of (pleasure, arousal), turned (and slightly compressed) so pleasant-and-lively lands on
//          gold and unpleasant-and-calm on blue; dominance turns it further, which separates emotions the
//          angle alone puts together (anger, dominant, toward red; fear, submissive, toward violet)
//   chroma how far from neutral the emotion sits (|pleasure, arousal|), times the cue's intensity
// Values are for CSS oklch(): --hue in degrees, --chroma 0..MAX_CHROMA. Neutral (0, 0, 0) is grey.

const MAX_CHROMA = 0.16;
const HUE_TURN = 111; // oklch hue of pure pleasure (angle 0)
const ANGLE_SCALE = 0.9; // hue degrees per degree of (pleasure, arousal) angle, turning the other way
const DOMINANCE_TURN = 60; // degrees of hue per unit of dominance
const FULL_AT = 0.6; // |pleasure, arousal| at which the chroma is full

/** name -> {pleasure, arousal, dominance}, from hello (empty without emotion_info). */
export function padTable(hello) {
  return new Map((hello?.emotion_info ?? []).map((e) => [e.name, e]));
}

/** {hue, chroma} for an emotion's PAD at `intensity` (0..1); null when the emotion has no PAD. */
export function padColor(pad, intensity = 1) {
  if (!pad) return null;
  const { pleasure: p, arousal: a, dominance: d = 0 } = pad;
  const angle = (Math.atan2(a, p) * 180) / Math.PI;
  const hue = (((HUE_TURN - ANGLE_SCALE * angle + DOMINANCE_TURN * d) % 360) + 360) % 360;
  const reach = Math.min(1, Math.hypot(p, a) / FULL_AT);
  const strength = 0.35 + 0.65 * Math.min(1, Math.max(0, intensity));
  return { hue: Math.round(hue), chroma: +(MAX_CHROMA * reach * strength).toFixed(3) };
}

/** Put an emotion's colour on `el` as --hue / --chroma custom properties (removed when unknown). */
export function paint(el, pad, intensity = 1) {
  const color = padColor(pad, intensity);
  if (color) {
    el.style.setProperty("--hue", color.hue);
    el.style.setProperty("--chroma", color.chroma);
  } else {
    el.style.removeProperty("--hue");
    el.style.removeProperty("--chroma");
  }
}
