// A searchable dropdown (ARIA 1.2 combobox with a listbox popup): the input
// shows the chosen value; focusing it opens the list, typing narrows it
// (every space-separated word must occur), arrows move, Enter picks, Esc
// closes and restores the value.

const SHOWN = 300; // options drawn at once; typing narrows the rest

export class Combo {
  /**
   * @param {HTMLInputElement} input
   * @param {HTMLElement} list the listbox
   * @param {(value: string) => void} onPick
   */
  constructor(input, list, onPick) {
    this.input = input;
    this.list = list;
    this.onPick = onPick;
    this.items = [];   // {value, label, meta, title?, search}
    this.shown = [];
    this.active = -1;
    this.value = '';
    this.empty = 'No files';
    input.setAttribute('role', 'combobox');
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-expanded', 'false');
    input.setAttribute('aria-controls', list.id);
    list.setAttribute('role', 'listbox');

    input.addEventListener('focus', () => { input.select(); this.open(''); });
    input.addEventListener('click', () => { if (list.hidden) this.open(''); });
    input.addEventListener('input', () => this.open(input.value));
    input.addEventListener('keydown', (e) => this.key(e));
    input.addEventListener('blur', () => this.close());
    // Keep focus in the input while an option is clicked.
    list.addEventListener('pointerdown', (e) => e.preventDefault());
    list.addEventListener('click', (e) => {
      const li = e.target.closest('[role=option]');
      if (li) this.pick(Number(li.dataset.i));
    });
  }

  setItems(items, empty) {
    this.items = items.map((it) => ({ ...it, search: it.value.toLowerCase() }));
    if (empty) this.empty = empty;
    if (!this.list.hidden) this.open(this.input.value === this.value ? '' : this.input.value);
  }

  set(value) {
    this.value = value;
    this.input.value = value;
    this.input.title = value;
  }

  open(query) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    const all = words.length ? this.items.filter((it) => words.every((w) => it.search.includes(w))) : this.items;
    this.shown = all.slice(0, SHOWN);
    const frag = document.createDocumentFragment();
    this.shown.forEach((it, i) => {
      const li = document.createElement('li');
      li.setAttribute('role', 'option');
      li.id = `${this.list.id}-${i}`;
      li.dataset.i = i;
      li.setAttribute('aria-selected', String(it.value === this.value));
      const slash = it.label.lastIndexOf('/') + 1;
      const name = document.createElement('span');
      name.className = 'opt-name';
      const dir = document.createElement('span');
      dir.className = 'opt-dir';
      dir.textContent = it.label.slice(0, slash);
      const base = document.createElement('b');
      base.textContent = it.label.slice(slash);
      name.append(dir, base);
      const meta = document.createElement('span');
      meta.className = 'opt-meta';
      meta.textContent = it.meta || '';
      if (it.title) li.title = it.title;
      li.append(name, meta);
      frag.append(li);
    });
    if (!this.shown.length) {
      const li = document.createElement('li');
      li.className = 'opt-none';
      li.textContent = words.length ? 'No file matches' : this.empty;
      frag.append(li);
    } else if (all.length > this.shown.length) {
      const li = document.createElement('li');
      li.className = 'opt-none';
      li.textContent = `${all.length - this.shown.length} more: type to narrow`;
      frag.append(li);
    }
    this.list.replaceChildren(frag);
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    const cur = this.shown.findIndex((it) => it.value === this.value);
    this.move(words.length ? 0 : cur);
  }

  close() {
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
    this.input.value = this.value;
  }

  move(i) {
    const prev = this.list.querySelector('.active');
    if (prev) prev.classList.remove('active');
    this.active = Math.max(-1, Math.min(i, this.shown.length - 1));
    if (this.active < 0) { this.input.removeAttribute('aria-activedescendant'); return; }
    const li = this.list.children[this.active];
    li.classList.add('active');
    this.input.setAttribute('aria-activedescendant', li.id);
    li.scrollIntoView({ block: 'nearest' });
  }

  pick(i) {
    const it = this.shown[i];
    if (!it) return;
    const changed = it.value !== this.value;
    this.set(it.value);
    this.close();
    this.input.blur();
    if (changed) this.onPick(it.value);
  }

  key(e) {
    const open = !this.list.hidden;
    switch (e.key) {
      case 'ArrowDown':
        e.preventDefault();
        if (!open) this.open(''); else this.move(this.active + 1);
        break;
      case 'ArrowUp':
        e.preventDefault();
        if (open) this.move(this.active - 1);
        break;
      case 'Enter':
        e.preventDefault();
        if (open && this.active >= 0) this.pick(this.active);
        break;
      case 'Escape':
        e.preventDefault();
        e.stopPropagation();
        this.close();
        this.input.blur();
        break;
    }
  }
}
