() => {
  // Click markers for point prompts, drawn in the browser over the image that takes the clicks (class
  // "click-surface"): the picture is never re-encoded or sent back, so a marker appears at once however large
  // the photo. The points themselves live in the hidden "<prefix>-points" textbox as JSON [[x, y], ...] in
  // original-image pixels, written by the server's click handler (diception_app.callbacks.click); this script only
  // draws them. A click also draws a provisional marker at the clicked pixel until the server's answer arrives
  // (none when the prompt is already full: the server refuses a 6th point and says so).
  const MAX_POINTS = __MAX_POINTS__;
  const PENDING_MS = 5000;
  const pending = new Map(); // surface id -> [{x, y, at}]
  const drawn = new Map(); // surface id -> the key of what is drawn

  // Where the picture really is inside its <img> box: Gradio shows it scaled to fit (object-fit).
  function contentBox(img) {
    const r = img.getBoundingClientRect();
    if (!img.naturalWidth || !img.naturalHeight || !r.width || !r.height) return null;
    const fit = getComputedStyle(img).objectFit;
    let scale = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
    if (fit === "scale-down" || fit === "none") scale = Math.min(scale, 1);
    const width = img.naturalWidth * scale, height = img.naturalHeight * scale;
    return {left: r.left + (r.width - width) / 2, top: r.top + (r.height - height) / 2, scale};
  }

  function pointsOf(surface) {
    const prefix = surface.id.replace(/-image$/, "");
    const box = document.querySelector(`#${prefix}-points textarea, #${prefix}-points input`);
    try {
      const points = JSON.parse((box && box.value) || "[]");
      return Array.isArray(points) ? points.filter((p) => Array.isArray(p) && p.length === 2) : [];
    } catch (err) {
      return [];
    }
  }

  function layerOf(frame) {
    let layer = frame.querySelector(":scope > .click-markers");
    if (!layer) {
      layer = document.createElement("div");
      layer.className = "click-markers";
      frame.appendChild(layer);
    }
    return layer;
  }

  function draw(surface) {
    const frame = surface.querySelector(".image-frame");
    const img = frame && frame.querySelector("img");
    const box = img && contentBox(img);
    if (!box) {
      drawn.delete(surface.id);
      return;
    }
    const points = pointsOf(surface);
    const now = performance.now();
    const waiting = (pending.get(surface.id) || []).filter((p) => now - p.at < PENDING_MS && p.src === img.currentSrc);
    pending.set(surface.id, waiting);
    const layer = layerOf(frame);
    const origin = layer.getBoundingClientRect();
    const key = JSON.stringify([points, waiting.map((p) => [p.x, p.y]), img.currentSrc, box.left - origin.left,
                                box.top - origin.top, box.scale]);
    if (drawn.get(surface.id) === key && layer.childElementCount === points.length + waiting.length) return;
    drawn.set(surface.id, key);
    layer.replaceChildren();
    const all = [...points.map((p) => ({x: p[0], y: p[1], provisional: false})),
                 ...waiting.map((p) => ({x: p.x, y: p.y, provisional: true}))];
    all.forEach((p, i) => {
      const marker = document.createElement("div");
      marker.className = p.provisional ? "click-marker provisional" : "click-marker";
      marker.textContent = String(i + 1);
      marker.dataset.x = String(p.x);
      marker.dataset.y = String(p.y);
      // The centre of original pixel (x, y), in the layer's coordinates.
      marker.style.left = `${box.left - origin.left + (p.x + 0.5) * box.scale}px`;
      marker.style.top = `${box.top - origin.top + (p.y + 0.5) * box.scale}px`;
      layer.appendChild(marker);
    });
  }

  // The same pixel Gradio's click handler reports (SelectData.index): rounded, inside the picture.
  document.addEventListener("click", (event) => {
    const frame = event.target instanceof Element ? event.target.closest(".click-surface .image-frame") : null;
    if (!frame) return;
    const surface = frame.closest(".click-surface");
    const img = frame.querySelector("img");
    const box = img && contentBox(img);
    if (!box) return;
    const x = Math.round((event.clientX - box.left) / box.scale);
    const y = Math.round((event.clientY - box.top) / box.scale);
    if (x < 0 || y < 0 || x >= img.naturalWidth || y >= img.naturalHeight) return;
    const waiting = pending.get(surface.id) || [];
    if (pointsOf(surface).length + waiting.length >= MAX_POINTS) return;
    waiting.push({x, y, at: performance.now(), count: pointsOf(surface).length, src: img.currentSrc});
    pending.set(surface.id, waiting);
    draw(surface);
  }, true);

  // A refusal appears next to the Run button: bring it into view if it is not (the button may sit at the screen's
  // edge when clicked). Only when its text changes, so the page never fights the user's scrolling.
  const refusals = new Map(); // element -> last text seen
  function showRefusals() {
    for (const box of document.querySelectorAll(".run-refusal")) {
      const text = box.textContent.trim();
      if (refusals.get(box) === text) continue;
      refusals.set(box, text);
      if (!text || !box.offsetParent) continue;
      // The box sits right above its Run button ("<prefix>-refusal" / "<prefix>-run"): show both.
      const run = document.getElementById(box.id.replace(/-refusal$/, "-run"));
      if (run) run.scrollIntoView({block: "nearest", behavior: "auto"});
      box.scrollIntoView({block: "nearest", behavior: "auto"});
    }
  }

  function tick() {
    showRefusals();
    for (const surface of document.querySelectorAll(".click-surface")) {
      if (!surface.id) continue;
      // A provisional marker is done once the server's points have grown past the count it was made at.
      const count = pointsOf(surface).length;
      const waiting = pending.get(surface.id);
      if (waiting && waiting.length) pending.set(surface.id, waiting.filter((p) => count <= p.count));
      draw(surface);
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
}
