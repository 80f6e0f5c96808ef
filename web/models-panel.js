// The Models panel: which model writes the replies and which judges them (and how), the generator's system
// prompt and the evaluator's criteria as editable text, saved for the session (and sent again to the next
// one, after a reconnect), and the history of the evaluator's scores. Shown only where the server lets this
// page edit its prompts (hello.prompts: Mien's own page, or an embed key with allow_prompt_edit). Driven
// only by the <mien-avatar> API and its events.

const HISTORY = 20; // verdicts listed, newest first

/** "name: text" lines -> [{name, text}] (blank lines skipped); throws with the line that is not one. */
export function parseCriteria(text) {
  const out = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const m = line.match(/^([a-z][a-z0-9_]{0,31})\s*:\s*(.+)$/);
    if (!m) throw new Error(`line ${i + 1}: write "name: what it checks" (a lowercase name, then a colon)`);
    if (out.some((c) => c.name === m[1])) throw new Error(`line ${i + 1}: "${m[1]}" is named twice`);
    out.push({ name: m[1], text: m[2] });
  }
  return out;
}

const TEMPLATE = `
<p class="roles"><span class="generator"></span><br><span class="evaluator"></span></p>
<label for="mien-system">System prompt <span class="edited" hidden>(edited)</span></label>
<textarea id="mien-system" class="system" rows="6" maxlength="4000" spellcheck="true"></textarea>
<label for="mien-criteria">Evaluator criteria <span class="hint">(one per line: name: what it checks)</span></label>
<textarea id="mien-criteria" class="criteria" rows="4" spellcheck="true"></textarea>
<div class="row"><button type="button" class="save">Save</button>
<button type="button" class="reset" title="The persona's own prompt and criteria">Reset</button>
<span class="status" role="status"></span></div>
<h3>Scores</h3>
<ol class="history" aria-label="The evaluator's scores, newest first"><li class="empty">No replies judged yet.</li></ol>`;

export class ModelsPanel {
  #root;
  #el;
  #saved = null; // the last edit this page saved: sent again to a new session of the same persona

  /** `root`: the panel's <details> (its `.models-body` gets the form); `el`: the <mien-avatar>. */
  constructor(root, el) {
    this.#root = root;
    this.#el = el;
    const body = root.querySelector(".models-body");
    body.innerHTML = TEMPLATE;
    const $ = (s) => body.querySelector(s);
    el.addEventListener("connect", (e) => this.#connected(e.detail.hello));
    el.addEventListener("prompts", (e) => {
      if (this.#sending) this.#saved = { persona: el.persona?.id, edit: this.#sending }; // kept once it took
      this.#sending = null;
      this.#show(e.detail, "Saved.");
    });
    el.addEventListener("evaluation", (e) => this.#score(e.detail));
    el.addEventListener("error", (e) => {
      if (["not_allowed", "invalid_message", "too_large"].includes(e.detail.code) && this.#sending) {
        this.#sending = null;
        $(".status").textContent = `Not saved: ${e.detail.message}`;
      }
    });
    $(".save").addEventListener("click", () => this.#save());
    // The persona's own again (criteria only where there is an evaluator to have them).
    $(".reset").addEventListener("click", () => {
      this.#send(el.hello?.evaluator ? { system: "", criteria: [] } : { system: "" });
    });
  }

  #sending = null; // the edit sent, until its answer (`prompts`, or an error); only one that took is sent again

  #q(selector) {
    return this.#root.querySelector(selector);
  }

  #connected(hello) {
    const prompts = hello.prompts;
    this.#root.hidden = !prompts || !this.#root.dataset.wanted;
    if (!prompts) return;
    this.#q(".generator").textContent = `Writes the replies: ${prompts.generator}`;
    const judge = hello.evaluator;
    this.#q(".evaluator").textContent = judge
      ? `Judges them: ${judge.model} (${judge.mode}, threshold ${judge.threshold})`
      : "Judges them: no evaluator (set evaluator_model on the server)";
    this.#q(".criteria").disabled = !judge;
    this.#sending = null; // a new session: an edit still on its way to the old one has no answer coming
    this.#show(prompts, "");
    if (this.#saved && this.#saved.persona === hello.persona.id && !hello.prompts.edited) {
      this.#send(this.#saved.edit); // a new session: this page's edit again
    }
  }

  /** Mirror the server's prompts (hello's, or the answer to an edit). */
  #show(prompts, status) {
    this.#q(".system").value = prompts.system;
    this.#q(".criteria").value = prompts.criteria.map((c) => `${c.name}: ${c.text}`).join("\n");
    this.#q(".edited").hidden = !prompts.edited;
    this.#q(".status").textContent = status;
  }

  #save() {
    let criteria;
    try {
      criteria = this.#el.hello?.evaluator ? parseCriteria(this.#q(".criteria").value) : undefined;
    } catch (err) {
      this.#q(".status").textContent = `Not saved: ${err.message}`;
      return;
    }
    this.#send({ system: this.#q(".system").value, ...(criteria ? { criteria } : {}) });
  }

  #send(edit) {
    this.#q(".status").textContent = "Saving…";
    this.#sending = this.#el.setPrompts(edit) ? edit : null;
  }

  /** One verdict in the history: the reply's weakest score and each criterion's, reasons on hover. */
  #score(v) {
    const list = this.#q(".history");
    list.querySelector(".empty")?.remove();
    const item = document.createElement("li");
    item.dataset.replyId = v.replyId;
    if (!v.evaluated) {
      item.textContent = `#${v.replyId} not evaluated`;
      item.title = v.reason;
    } else {
      item.textContent = `#${v.replyId} ${Math.round(v.overall * 100)} — `;
      item.append(v.scores.map((s) => `${s.criterion} ${Math.round(s.score * 100)}`).join(", "));
      item.title = v.scores.map((s) => `${s.criterion}: ${s.reason}`).join("\n");
    }
    list.prepend(item);
    while (list.children.length > HISTORY) list.lastElementChild.remove();
  }
}
