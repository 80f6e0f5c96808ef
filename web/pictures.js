// Pictures for <mien-avatar>: `send(text, {image})` sends the picture first (a binary `image` message:
// u8 kind=4, u8 flags, u32 id, then the file) and then the message naming it, in that order on the one
// socket, so the server has it ready. A picture larger than the server takes is shrunk here first (a
// phone's photo): drawn at most 2048 px on its longer side and sent as a JPEG. docs/protocol.md "Pictures".

import { clientBinary } from "./protocol.js";

const IMAGE_KIND = 4;
const SHRINK_SIDE = 2048;

/** `blob` as the server will take it: itself when small enough, else redrawn smaller as a JPEG. */
export async function shrink(blob, maxBytes) {
  if (blob.size <= maxBytes) return blob;
  const bitmap = await createImageBitmap(blob);
  const scale = Math.min(1, SHRINK_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  for (const quality of [0.9, 0.75, 0.6]) {
    const jpeg = await canvas.convertToBlob({ type: "image/jpeg", quality });
    if (jpeg.size <= maxBytes) return jpeg;
  }
  throw new Error(`the picture stays over ${(maxBytes / 1e6).toFixed(1)} MB even made smaller`);
}

export class AvatarPictures {
  #session;
  #emit;
  #id = 0;

  constructor(session, emit) {
    this.#session = session;
    this.#emit = emit;
  }

  /** Why pictures can't be shown here (a sentence), or null. */
  problem() {
    const vision = this.#session.hello?.vision;
    if (!vision) return "Not connected to the server yet.";
    return vision.available ? null : `Pictures can't be shown here: ${vision.reason}.`;
  }

  /** The picture, then the message showing it. Resolves to true when both went out. */
  async send(text, image) {
    const problem = this.problem();
    const vision = this.#session.hello?.vision;
    if (problem) return this.#error("vision_unavailable", problem);
    if (!(image instanceof Blob) || !vision.types.includes(image.type)) {
      return this.#error("bad_image", `send a picture of one of these kinds: ${vision.types.join(", ")}`);
    }
    let fitted;
    try {
      fitted = await shrink(image, vision.max_bytes);
    } catch (err) {
      return this.#error("bad_image", `the picture could not be read: ${err.message}`);
    }
    const id = ++this.#id;
    if (!this.#session.sendBinary(clientBinary(IMAGE_KIND, id, await fitted.arrayBuffer()))) {
      return this.#error("not_connected", "not connected; the picture was not sent");
    }
    const sent = this.#session.send({ type: "user_message", text, image: id });
    if (sent) {
      const url = URL.createObjectURL(image);
      this.#emit("usermessage", { text, scripted: false, greeting: false, image: url });
    }
    return sent;
  }

  #error(code, message) {
    this.#emit("error", { code, message, replyId: null, source: "client" });
    return false;
  }
}
