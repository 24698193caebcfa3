// The loss-mask preview page: renders segments sent by the extension, as text only.
(function () {
  const title = document.getElementById('title');
  const summary = document.getElementById('summary');
  const text = document.getElementById('text');
  const fmt = (n) => n.toLocaleString('en-US');
  window.addEventListener('message', (event) => {
    const msg = event.data;
    if (!msg || msg.type !== 'show') return;
    title.textContent = `${msg.file}, line ${msg.line}`;
    text.replaceChildren();
    const r = msg.result;
    if (r.error) {
      summary.textContent = r.error;
      summary.className = 'error';
      return;
    }
    summary.className = '';
    const share = r.trainable === null ? 'trainable tokens unknown' : `${fmt(r.trainable)} trainable (${r.tokens ? Math.round((100 * r.trainable) / r.tokens) : 0}%)`;
    summary.textContent = `${fmt(r.tokens)} tokens after the chat template, ${share}. Model: ${r.model}${r.rendering ? `. Rendering: ${r.rendering}` : ''}`;
    let sequence;
    for (const seg of r.segments) {
      // An example that trains as several sequences (one per assistant turn) shows each under a rule.
      if (seg.sequence !== undefined && seg.sequence !== sequence) {
        sequence = seg.sequence;
        const head = document.createElement('span');
        head.className = 'sequence';
        head.textContent = `${sequence ? '\n' : ''}── sequence ${sequence + 1} ──\n`;
        text.appendChild(head);
      }
      const span = document.createElement('span');
      span.className = seg.trainable ? 'trainable' : 'masked';
      span.textContent = seg.text;
      text.appendChild(span);
    }
  });
})();
