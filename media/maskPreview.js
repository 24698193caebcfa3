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
    summary.textContent = `${fmt(r.tokens)} tokens after the chat template, ${share}. Model: ${r.model}`;
    for (const seg of r.segments) {
      const span = document.createElement('span');
      span.className = seg.trainable ? 'trainable' : 'masked';
      span.textContent = seg.text;
      text.appendChild(span);
    }
  });
})();
