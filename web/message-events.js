// Server messages as <mien-avatar>'s DOM events: every JSON message other than hello and state becomes
// [type, detail] with its fields in camelCase (docs/element.md lists the events).

/**
 * A server message (other than hello and state) as the element's DOM event: [type, detail], fields in
 * camelCase; null for a message the element does not announce.
 */
export function messageEvent(m) {
  switch (m.type) {
    case "reply_start":
      return ["reply", { replyId: m.reply_id, source: m.source }];
    case "text":
      return ["text", { replyId: m.reply_id, offset: m.offset, delta: m.delta }];
    case "emotion": {
      const { reply_id: replyId, emotion, intensity, offset, source, confidence = 1 } = m;
      return ["emotion", { replyId, emotion, intensity, offset, source, confidence }];
    }
    case "gesture": {
      const { reply_id: replyId, gesture, intensity = 1, offset, source } = m;
      return ["gesture", { replyId, gesture, intensity, offset, source }];
    }
    case "reply_end":
      return ["replyend", { replyId: m.reply_id, status: m.status, text: m.text }];
    case "speech": {
      const { reply_id: replyId, sentence, text_start: textStart, text_end: textEnd, t_ms: tMs } = m;
      const words = m.words.map((w) => ({ offset: w.offset, tMs: w.t_ms, endMs: w.end_ms }));
      const cues = m.cues.map((c) => ({ emotion: c.emotion, intensity: c.intensity, tMs: c.t_ms }));
      const rest = { durationMs: m.duration_ms, audioBytes: m.audio_bytes };
      return ["speech", { replyId, sentence, textStart, textEnd, tMs, ...rest, words, cues }];
    }
    case "history": {
      const cue = ({ emotion, intensity, offset, source, confidence = 1 }) =>
        ({ emotion, intensity, offset, source, confidence });
      const turns = m.turns.map((t) => ({ ...t, cues: (t.cues ?? []).map(cue) }));
      return ["history", { reason: m.reason, turns }];
    }
    case "speech_start":
      return ["speechstart", { turn: m.turn, atMs: m.at_ms }];
    case "speech_end":
      return ["speechend", { turn: m.turn, atMs: m.at_ms, reason: m.reason }];
    case "transcript": {
      const words = (m.words ?? []).map((w) => ({
        word: w.word, startMs: w.start_ms, endMs: w.end_ms, probability: w.probability,
      }));
      return ["transcript", { turn: m.turn, text: m.text, final: m.final, words, dropped: m.dropped ?? [] }];
    }
    case "evaluation": {
      const scores = m.scores.map((x) => ({ criterion: x.criterion, score: x.score, reason: x.reason }));
      const { evaluated, mode, model, overall, revision, revised, candidates, chosen, tempered, reason } = m;
      const rest = { revised, draftOverall: m.draft_overall, candidates, chosen, tempered, reason };
      return ["evaluation", { replyId: m.reply_id, evaluated, mode, model, scores, overall, revision, ...rest }];
    }
    case "guidance": {
      const { status, teacher, student, plan, start, batch, reason } = m;
      return ["guidance", { replyId: m.reply_id, status, teacher, student, plan, start, batch, reason }];
    }
    case "vision":
      return ["vision", { replyId: m.reply_id, model: m.model, description: m.description }];
    case "image":
      return ["image", { imageId: m.image_id, width: m.width, height: m.height, bytes: m.bytes }];
    case "prompts":
      return ["prompts", { generator: m.generator, system: m.system, criteria: m.criteria, edited: m.edited }];
    case "barge_in":
      return ["bargein", { action: m.action, replyId: m.reply_id }];
    case "error":
      return ["error", { code: m.code, message: m.message, replyId: m.reply_id ?? null, source: "server" }];
    default:
      return null;
  }
}
