// The evaluator's verdict on one reply, as a small scorecard under it: the weakest criterion's score, a bar
// per criterion (its reason on hover), and what the verdict did (rewritten, picked, emotions softened) —
// or "not evaluated" and why. Built from the element's `evaluation` event alone.

const PERCENT = (x) => `${Math.round(x * 100)}`;

/** The scorecard element for an `evaluation` event's detail. */
export function scorecard(v) {
  const card = document.createElement("div");
  card.className = "scorecard";
  card.dataset.evaluated = String(v.evaluated);
  if (!v.evaluated) {
    card.textContent = "not evaluated";
    card.title = `${v.model}: ${v.reason}`;
    return card;
  }
  const head = document.createElement("span");
  head.className = "overall";
  head.textContent = `judged ${PERCENT(v.overall)}`;
  head.title = `by ${v.model} (${v.mode}); the weakest criterion's score`;
  card.append(head);
  for (const s of v.scores) {
    const item = document.createElement("span");
    item.className = "score";
    item.dataset.criterion = s.criterion;
    item.style.setProperty("--score", String(s.score));
    item.textContent = `${s.criterion.replaceAll("_", " ")} ${PERCENT(s.score)}`;
    item.title = s.reason || s.criterion;
    card.append(item);
  }
  const notes = [];
  if (v.revised) notes.push(`rewritten (the draft scored ${PERCENT(v.draftOverall)})`);
  if (v.mode === "pick" && v.candidates > 1) notes.push(`best of ${v.candidates}`);
  if (v.tempered) notes.push("emotions softened");
  if (v.revision && !v.revised) notes.push(`advice: ${v.revision}`);
  if (notes.length) {
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = notes.join(" · ");
    card.append(note);
  }
  return card;
}
