// Teacher + student: which part of a reply came from the teacher, shown on request under the reply — a
// folded "guided by" line that opens to the teacher's plan and the first words it gave (the reply begins
// with them verbatim), or why the student answered alone / the teacher answered in full. Built from the
// element's `guidance` event alone.

const SUMMARY = {
  guided: (g) => `guided by ${g.teacher}`,
  unguided: () => "no guidance",
  teacher_only: (g) => `written by ${g.teacher}`,
};

/** The folded note for a `guidance` event's detail. */
export function guidanceNote(g) {
  const note = document.createElement("details");
  note.className = "guidance";
  note.dataset.status = g.status;
  const summary = document.createElement("summary");
  summary.textContent = SUMMARY[g.status]?.(g) ?? g.status;
  const body = document.createElement("p");
  if (g.status === "guided") {
    const shared = g.batch > 1 ? ` (one teacher call for ${g.batch} conversations)` : "";
    body.textContent = `${g.teacher} planned: ${g.plan || "—"}; it began “${g.start}” and ${g.student} went on${shared}.`;
  } else if (g.status === "unguided") {
    body.textContent = `${g.student} answered alone: ${g.reason}`;
  } else {
    body.textContent = `${g.student} could not answer (${g.reason}), so ${g.teacher} wrote the reply.`;
  }
  note.append(summary, body);
  return note;
}
